"""Imported by multiprocessing's forkserver as it starts: it dies with Guardian.

Listed in the forkserver's preload modules by
:func:`service.lifeline.start_forkserver` (only from Guardian's main thread,
whose end is the end of the process). Its one job is this side effect; nothing
else imports it.
"""

from service.lifeline import die_with_parent

die_with_parent()
