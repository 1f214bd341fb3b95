/* gunicorn's logconfig_dict (and logconfig_json) in a gunicorn.conf.py, mapped onto the
 * error-log and access-log settings. The mapping is Python that the config child
 * (pyconfig.c) runs before it writes the settings back, because the value is a nested
 * dict of Python objects that only Python reads faithfully; nothing of Python's logging
 * is configured in uwsgi-fast itself.
 *
 * What is honoured: the loggers gunicorn.error and gunicorn.access, each with at most one
 * handler. A logging.StreamHandler on sys.stderr or sys.stdout, a logging.FileHandler or
 * logging.handlers.WatchedFileHandler (filename), or for the access log a
 * logging.NullHandler (no access log), becomes errorlog / accesslog; a formatter whose
 * "()" or "class" names a JSON formatter (python-json-logger's JsonFormatter and the
 * like) turns on error_log_json / access_log_json; gunicorn.error's level becomes
 * loglevel. These replace errorlog, loglevel, accesslog in the same file, as gunicorn's
 * dictConfig replaces the handlers those set up. Any other handler class, a second
 * handler, or an unknown level refuses the file with one line naming what is offered
 * instead; other loggers (root, the application's) get a warning, since configuring
 * them is the application's own business in uwsgi-fast.
 */
#ifndef UF_TUNABLES_LOGCONFIG_H
#define UF_TUNABLES_LOGCONFIG_H

/* Python source defining uf_logconfig(d, key) -> (settings, warnings), which raises
 * UfRefused(message) for what cannot be honoured. `key` names the setting in messages. */
extern const char tun_logconfig_py[];

#endif
