"""The actors of the flow, one module each, in the order a booking meets them.

``lea``    the local law-enforcement agency: arrest, booking, Livescan submission
``sib``    the State Identification Bureau: routes prints, applies Secure Communities status
``cjis``   FBI CJIS / IAFIS: criminal master file search, rap sheet
``ident``  DHS IDENT: immigration encounters search; a match sends an IAQ
``lesc``   ICE's Law Enforcement Support Center: status check, IAR
``ero``    ICE Enforcement and Removal Operations: detainer, interview or nothing
``jail``   the jail: honors or declines under its policy; the hold clock; notification
``court``  transfer to ICE custody, removal proceedings and their outcome

Every step is a pure function from (case state, message, rules in force) to a
:class:`~scomm.agencies.base.StepResult`: the events to append and the messages to send on.
Searches of the agencies' databases are done at the edge and handed in as arguments.
"""
