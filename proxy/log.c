/* Logging: one line per event, as text (Redis's layout) or JSON. */
#include "proxy/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static FILE *log_file;
static int log_level = PROXY_LOG_NOTICE;
static int log_format = PROXY_LOG_TEXT;

static const char *const level_names[] = {"debug", "verbose", "notice", "warning"};
static const char level_marks[] = {'.', '-', '*', '#'};

void proxy_log_open(const struct proxy_config *cfg)
{
    log_level = cfg->loglevel;
    log_format = cfg->log_format;
    FILE *f = stdout; /* no logfile (any more): standard output */
    if (cfg->logfile && cfg->logfile[0]) {
        f = fopen(cfg->logfile, "a");
        if (f == NULL) {
            fprintf(stderr, "ferry: cannot open logfile %s (%s), %s\n", cfg->logfile,
                    strerror(errno),
                    log_file && log_file != stdout ? "keeping the log file it had"
                                                   : "logging to standard output");
            return;
        }
    }
    if (log_file && log_file != stdout)
        fclose(log_file);
    log_file = f;
}

void proxy_log_close(void)
{
    if (log_file && log_file != stdout)
        fclose(log_file);
    log_file = NULL;
}

/* JSON string body: escapes quotes, backslashes and control bytes. */
static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
}

void proxy_log(int level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    FILE *f = log_file ? log_file : stdout;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    char when[64];
    if (log_format == PROXY_LOG_JSON) {
        gmtime_r(&tv.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(f, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"pid\":%d,\"msg\":\"", when,
                (int)(tv.tv_usec / 1000), level_names[level], (int)getpid());
        json_escape(f, msg);
        fputs("\"}\n", f);
    } else {
        localtime_r(&tv.tv_sec, &tm);
        strftime(when, sizeof(when), "%d %b %Y %H:%M:%S", &tm);
        fprintf(f, "%d:F %s.%03d %c %s\n", (int)getpid(), when, (int)(tv.tv_usec / 1000),
                level_marks[level], msg);
    }
    fflush(f);
}

void proxy_assert_fail(const char *cond, const char *file, int line)
{
    proxy_log_warning("ASSERTION FAILED %s:%d: %s", file, line, cond);
    fprintf(stderr, "ferry: assertion failed at %s:%d: %s\n", file, line, cond);
    abort();
}
