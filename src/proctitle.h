/* Process titles: what ps, top and /proc/PID/cmdline show for the master and each worker
 * ("uwsgi-fast: master [NAME]", "uwsgi-fast: worker 3 [NAME]"), as gunicorn's
 * setproctitle does.
 *
 * Linux shows the memory that held argv (and, past its end, the environment strings the
 * kernel put right after it), so proctitle_init moves argv and the environment to the
 * heap first and hands back the copies; the title is then written over the old area.
 * The thread name (comm) stays "uwsgi-fast", so `pgrep uwsgi-fast` and `pkill` find
 * every process as before. Called from the main thread only: once at start, then once
 * per process after fork.
 */
#ifndef UF_PROCTITLE_H
#define UF_PROCTITLE_H

/* Moves argv and environ out of the area the title will use. Returns argv's copy (the
 * strings the settings are read from, also on a reload); environ points to copies too. */
char **proctitle_init(int argc, char **argv);

/* Sets the title "uwsgi-fast: ROLE [NAME]" (without " [NAME]" when name is NULL). A title
 * longer than the area is cut; without proctitle_init it does nothing. */
void proctitle_set(const char *role, const char *name);

#endif
