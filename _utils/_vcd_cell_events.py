"""
Events on the master's bus, for ``salt-run state.event`` watchers: a drain's progress, sent by a thread
of its own so the drain never waits on the bus, and the lease keeper's word, sent straight to the master.
Where there is no master (``salt-call --local``, salt-ssh) there is no bus: the host's log says it instead.
"""

import contextvars
import json
import logging
import queue
import threading

import _vcd_cell_settings as config

log = logging.getLogger(__name__)

# How long the events still queued when a drain ends may take to go out.
FLUSH_SECONDS = 10


class Events:
    """
    Events sent through the minion (``event.send``) by a background thread, in order; :meth:`close`
    lets the queued ones go out. Without a master, :meth:`send` does nothing: there is no bus to reach,
    and trying costs each event a second's wait on a connection that never comes.
    """

    def __init__(self, settings):
        self.settings = settings
        self.queue = None if settings.masterless else queue.Queue()
        self.thread = None

    def send(self, tag, data):
        if self.queue is None:
            to_log(self.settings.opts, tag, data)
            return
        if self.thread is None:
            # The function is looked up here, in the job's own context: on Salt 3006 the loader's
            # __salt__ answers nothing in another thread, even one run in a copy of this context (every
            # progress event was lost there). The loader's context (its __opts__) still goes with it.
            deliver = self.settings.salt["event.send"]
            context = contextvars.copy_context()
            self.thread = threading.Thread(target=context.run, args=(self._deliver, deliver), daemon=True)
            self.thread.start()
        self.queue.put((tag, data))

    def _deliver(self, deliver):
        while True:
            item = self.queue.get()
            if item is None:
                return
            tag, data = item
            try:
                deliver(tag, data)
            except Exception as exc:  # pylint: disable=broad-except
                # Progress is informative: a lost event must never break a drain.
                log.debug("vcd_cell: could not send the event %s: %s", tag, type(exc).__name__)

    def close(self, timeout=FLUSH_SECONDS):
        """Let the queued events go out, waiting at most ``timeout`` seconds."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join(timeout)
            self.thread = None


def send_to_master(settings, tag, data):
    """
    An event on the master's bus, sent straight to the master: the minion daemon that would carry it
    may be the very process that died. Nothing to send to without a master.
    """
    if settings.masterless:
        return
    try:
        settings.salt["event.fire_master"](data, tag, preload={"id": settings.minion_id})
    except Exception as exc:  # pylint: disable=broad-except
        log.warning("vcd_cell: could not send the event %s to the master: %s", tag, type(exc).__name__)


def to_log(opts, tag, data):
    """
    What would have gone on the bus, in the host's log: at WARNING over salt-ssh, whose log file (in
    its thin directory) keeps warnings only by default and is all a person has of a run on that host;
    at INFO under ``salt-call --local``, whose caller sees the return.
    """
    level = logging.WARNING if config.over_ssh(opts) else logging.INFO
    log.log(level, "vcd_cell: %s %s", tag, json.dumps(data, default=str))
