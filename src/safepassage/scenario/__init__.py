"""The demo scenario: the Azovstal 2022 operation as data, and the commands that play it out.

``load_scenario()`` reads the scenario shipped with safepassage (or another file) and checks it;
``commands(scenario, public_key)`` turns it into the operation's commands, in order, for the
caller to sign and record. Pure: no I/O but reading the scenario file.
"""

from safepassage.scenario.plan import Command, Scenario, commands, load_scenario

__all__ = ["Command", "Scenario", "commands", "load_scenario"]
