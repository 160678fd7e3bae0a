/* Unit tests of daemon/config.c: every key's parsing and default, and that each mistake in the
 * file refuses to start with the file, line and key in one message. The tests run in a
 * temporary directory holding config.ini and the certificate files it names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char temp_dir[] = "/tmp/rollcall-test-config-XXXXXX";
static char start_dir[4096];

static const char required_keys[] = "[rollcalld]\n"
                                    "listen = 127.0.0.1:8443\n"
                                    "tls_cert = server.crt\n"
                                    "tls_key = server.key\n"
                                    "tls_ca = ca.crt\n"
                                    "database = host=/tmp dbname=rollcall\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	if (getcwd(start_dir, sizeof start_dir) == NULL || mkdtemp(temp_dir) == NULL ||
	    chdir(temp_dir) != 0)
		return -1;
	static const char *const files[] = {"server.crt", "server.key", "ca.crt", "ca.crl",
	                                    "webhooks.pem"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		FILE *f = fopen(files[i], "w");
		if (f == NULL || fputs("-----BEGIN TEST-----\n", f) < 0 || fclose(f) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	static const char *const files[] = {"server.crt",   "server.key", "ca.crt",    "ca.crl",
	                                    "webhooks.pem", "config.ini", "secret.pem"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		unlink(files[i]);
	if (chdir(start_dir) != 0 || rmdir(temp_dir) != 0)
		return -1;
	return 0;
}

/* Loads `text` as config.ini; fails the test if it is refused. */
static void load_ok(const char *text, struct config *config)
{
	write_file("config.ini", text);
	char err[512] = "";
	if (!config_load("config.ini", config, err, sizeof err))
		fail_msg("refused: %s\n--- config.ini:\n%s", err, text);
}

/* Loads `text` as config.ini and checks the one-line error. */
static void assert_refused(const char *text, const char *expected)
{
	write_file("config.ini", text);
	char err[512] = "";
	struct config config;
	memset(&config, 0xa5, sizeof config); /* must stay untouched */
	struct config pattern;
	memset(&pattern, 0xa5, sizeof pattern);
	if (config_load("config.ini", &config, err, sizeof err))
		fail_msg("accepted:\n%s", text);
	assert_string_equal(err, expected);
	assert_memory_equal(&config, &pattern, sizeof config);
}

/* The minimal file with one more line appended (on line 7). */
static void with_line(char *out, size_t out_size, const char *line)
{
	snprintf(out, out_size, "%s%s\n", required_keys, line);
}

static void test_minimal_file_gets_defaults(void **state)
{
	(void)state;
	struct config config;
	load_ok(required_keys, &config);
	assert_string_equal(config.listen_host, "127.0.0.1");
	assert_int_equal(config.listen_port, 8443);
	assert_string_equal(config.tls_cert, "server.crt");
	assert_string_equal(config.tls_key, "server.key");
	assert_string_equal(config.tls_ca, "ca.crt");
	assert_null(config.tls_crl);
	assert_string_equal(config.database, "host=/tmp dbname=rollcall");
	assert_null(config.bootstrap_admin);
	assert_null(config.webhook_ca);
	assert_false(config.test_clock);
	assert_int_equal(config.log_level, LOG_INFO);
	assert_int_equal(config.db_pool_size, 4);
	assert_int_equal(config.max_connections, 10000);
	assert_int_equal(config.max_body_bytes, 1048576);
	assert_int_equal(config.max_header_bytes, 16384);
	assert_int_equal(config.idle_timeout_s, 60);
	assert_int_equal(config.request_timeout_s, 30);
	assert_int_equal(config.handshake_timeout_s, 10);
	assert_int_equal(config.request_rate, 500);
	assert_int_equal(config.request_burst, 1000);
	assert_int_equal(config.sse_heartbeat_s, 15);
	assert_int_equal(config.webhook_timeout_s, 10);
	assert_int_equal(config.webhook_backoff_max_s, 600);

	char host[256], expected[300];
	assert_int_equal(gethostname(host, sizeof host), 0);
	snprintf(expected, sizeof expected, "%s:%ld", host, (long)getpid());
	assert_string_equal(config.instance_name, expected);
	config_free(&config);
}

static void test_every_key_set(void **state)
{
	(void)state;
	struct config config;
	load_ok("; rollcalld for Tønder\n"
	        "# both comment styles\n"
	        "[rollcalld]\n"
	        "listen = [::1]:9443\n"
	        "tls_cert = server.crt\n"
	        "tls_key = server.key\n"
	        "tls_ca = ca.crt\n"
	        "tls_crl = ca.crl\n"
	        "database = host=/tmp dbname=rollcall password=a;b ; the rest is a comment\n"
	        "bootstrap_admin = it-admin\n"
	        "webhook_ca = webhooks.pem\n"
	        "test_clock = true\n"
	        "log_level = debug\n"
	        "db_pool_size = 8\n"
	        "max_connections = 500\n"
	        "max_body_bytes = 2097152\n"
	        "max_header_bytes = 8192\n"
	        "idle_timeout = 120\n"
	        "request_timeout = 20\n"
	        "sse_heartbeat = 5\n"
	        "webhook_timeout = 7\n"
	        "webhook_backoff_max = 3600\n"
	        "instance_name = node-a\n",
	        &config);
	assert_string_equal(config.listen_host, "::1");
	assert_int_equal(config.listen_port, 9443);
	assert_string_equal(config.tls_crl, "ca.crl");
	assert_string_equal(config.database, "host=/tmp dbname=rollcall password=a;b");
	assert_string_equal(config.bootstrap_admin, "it-admin");
	assert_string_equal(config.webhook_ca, "webhooks.pem");
	assert_true(config.test_clock);
	assert_int_equal(config.log_level, LOG_DEBUG);
	assert_int_equal(config.db_pool_size, 8);
	assert_int_equal(config.max_connections, 500);
	assert_int_equal(config.max_body_bytes, 2097152);
	assert_int_equal(config.max_header_bytes, 8192);
	assert_int_equal(config.idle_timeout_s, 120);
	assert_int_equal(config.request_timeout_s, 20);
	assert_int_equal(config.sse_heartbeat_s, 5);
	assert_int_equal(config.webhook_timeout_s, 7);
	assert_int_equal(config.webhook_backoff_max_s, 3600);
	assert_string_equal(config.instance_name, "node-a");
	config_free(&config);
}

static void test_unknown_key_names_line(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text, "listne = 0.0.0.0:8443");
	assert_refused(text, "config.ini:7: unknown key 'listne'");
	/* Key names are exact. */
	with_line(text, sizeof text, "Log_Level = info");
	assert_refused(text, "config.ini:7: unknown key 'Log_Level'");
}

static void test_bad_boolean(void **state)
{
	(void)state;
	assert_refused("[rollcalld]\nlisten = 127.0.0.1:8443\ntest_clock = maybe\n",
	               "config.ini:3: bad value for 'test_clock': expected true or false");
	static const char *const truths[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	static const char *const lies[] = {"false", "no", "off", "0", "False", "OFF"};
	for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
		char text[1024], line[64];
		struct config config;
		snprintf(line, sizeof line, "test_clock = %s", truths[i]);
		with_line(text, sizeof text, line);
		load_ok(text, &config);
		assert_true(config.test_clock);
		config_free(&config);
		snprintf(line, sizeof line, "test_clock = %s", lies[i]);
		with_line(text, sizeof text, line);
		load_ok(text, &config);
		assert_false(config.test_clock);
		config_free(&config);
	}
}

static void test_missing_required_keys(void **state)
{
	(void)state;
	static const char *const required[] = {"listen", "tls_cert", "tls_key", "tls_ca",
	                                       "database"};
	for (size_t skip = 0; skip < 5; skip++) {
		/* required_keys with line skip+2 left out. */
		char text[1024] = "";
		const char *line = required_keys;
		for (size_t n = 0; *line != '\0'; n++) {
			const char *end = strchr(line, '\n') + 1;
			if (n != skip + 1)
				strncat(text, line, (size_t)(end - line));
			line = end;
		}
		char expected[128];
		snprintf(expected, sizeof expected, "config.ini: missing required key '%s'",
		         required[skip]);
		assert_refused(text, expected);
	}
	assert_refused("", "config.ini: missing required key 'listen'");
}

static void test_listen_forms(void **state)
{
	(void)state;
	static const struct {
		const char *value, *host;
		int port;
	} good[] = {
	    {"0.0.0.0:1", "0.0.0.0", 1},
	    {"localhost:65535", "localhost", 65535},
	    {"rollcall.example.dk:8443", "rollcall.example.dk", 8443},
	    {"[::]:8443", "::", 8443},
	    {"[2001:db8::1]:443", "2001:db8::1", 443},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
		         "[rollcalld]\nlisten = %s\ntls_cert = server.crt\ntls_key = server.key\n"
		         "tls_ca = ca.crt\ndatabase = dbname=x\n",
		         good[i].value);
		struct config config;
		load_ok(text, &config);
		assert_string_equal(config.listen_host, good[i].host);
		assert_int_equal(config.listen_port, good[i].port);
		config_free(&config);
	}
	static const struct {
		const char *value, *why;
	} bad[] = {
	    {"8443", "expected host:port"},
	    {"127.0.0.1:0", "the port must be a number from 1 to 65535"},
	    {"127.0.0.1:65536", "the port must be a number from 1 to 65535"},
	    {"127.0.0.1:", "the port must be a number from 1 to 65535"},
	    {"127.0.0.1:84x3", "the port must be a number from 1 to 65535"},
	    {"127.0.0.1:-1", "the port must be a number from 1 to 65535"},
	    {":8443", "the host must be an IPv4 address or a host name"},
	    {"bad_host:8443", "the host must be an IPv4 address or a host name"},
	    {"::1:8443", "an IPv6 address needs brackets, e.g. [::1]:8443"},
	    {"[::1]8443", "expected [v6-address]:port"},
	    {"[::1:8443", "expected [v6-address]:port"},
	    {"[127.0.0.1]:8443", "the part in brackets is not an IPv6 address"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[1024], expected[256];
		snprintf(text, sizeof text, "[rollcalld]\nlisten = %s\n", bad[i].value);
		snprintf(expected, sizeof expected, "config.ini:2: bad value for 'listen': %s",
		         bad[i].why);
		assert_refused(text, expected);
	}
}

static void test_integer_values(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text, "db_pool_size = 0");
	assert_refused(text, "config.ini:7: bad value for 'db_pool_size': expected an integer "
	                     "from 1 to 256");
	with_line(text, sizeof text, "db_pool_size = 257");
	assert_refused(text, "config.ini:7: bad value for 'db_pool_size': expected an integer "
	                     "from 1 to 256");
	with_line(text, sizeof text, "db_pool_size = -4");
	assert_refused(text, "config.ini:7: bad value for 'db_pool_size': expected an integer "
	                     "from 1 to 256");
	with_line(text, sizeof text, "db_pool_size = 4x");
	assert_refused(text, "config.ini:7: bad value for 'db_pool_size': expected an integer "
	                     "from 1 to 256");
	with_line(text, sizeof text, "idle_timeout = 99999999999999999999999");
	assert_refused(text, "config.ini:7: bad value for 'idle_timeout': expected an integer "
	                     "from 1 to 86400");
	with_line(text, sizeof text, "max_body_bytes = 1M");
	assert_refused(text, "config.ini:7: bad value for 'max_body_bytes': expected an integer "
	                     "from 1024 to 1073741824");

	struct config config;
	with_line(text, sizeof text, "max_body_bytes = 1073741824");
	load_ok(text, &config);
	assert_int_equal(config.max_body_bytes, 1073741824L);
	config_free(&config);
}

static void test_log_levels(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		enum log_level level;
	} levels[] = {
	    {"error", LOG_ERROR}, {"warn", LOG_WARN},   {"info", LOG_INFO},
	    {"debug", LOG_DEBUG}, {"DEBUG", LOG_DEBUG}, {"Warn", LOG_WARN},
	};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		char text[1024], line[64];
		snprintf(line, sizeof line, "log_level = %s", levels[i].text);
		with_line(text, sizeof text, line);
		struct config config;
		load_ok(text, &config);
		assert_int_equal(config.log_level, levels[i].level);
		config_free(&config);
	}
	char text[1024];
	with_line(text, sizeof text, "log_level = verbose");
	assert_refused(text, "config.ini:7: bad value for 'log_level': expected error, warn, "
	                     "info or debug");
	with_line(text, sizeof text, "log_level = warning");
	assert_refused(text, "config.ini:7: bad value for 'log_level': expected error, warn, "
	                     "info or debug");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text, "listen = 0.0.0.0:9000");
	assert_refused(text, "config.ini:7: duplicate key 'listen' (first set on line 2)");
}

static void test_sections(void **state)
{
	(void)state;
	assert_refused("listen = 127.0.0.1:8443\n[rollcalld]\n",
	               "config.ini:1: key 'listen' outside the [rollcalld] section");
	char text[1024];
	with_line(text, sizeof text, "[database]\nhost = x");
	assert_refused(text, "config.ini:7: unknown section [database] (the only section is "
	                     "[rollcalld])");
	/* An empty section of another name is refused too, at its own line. */
	with_line(text, sizeof text, "\n[extra]");
	assert_refused(text, "config.ini:8: unknown section [extra] (the only section is "
	                     "[rollcalld])");
	assert_refused("[Rollcalld]\nlisten = 127.0.0.1:8443\n",
	               "config.ini:1: unknown section [Rollcalld] (the only section is "
	               "[rollcalld])");
	/* The section may be opened twice. */
	struct config config;
	with_line(text, sizeof text, "[rollcalld]\nlog_level = warn");
	load_ok(text, &config);
	assert_int_equal(config.log_level, LOG_WARN);
	config_free(&config);
}

static void test_syntax_errors_and_first_error_wins(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text, "just some words");
	assert_refused(text, "config.ini:7: syntax error: expected 'key = value' or '[rollcalld]'");
	with_line(text, sizeof text, "[rollcalld");
	assert_refused(text, "config.ini:7: syntax error: expected 'key = value' or '[rollcalld]'");
	assert_refused("[rollcalld]\nlisten = 127.0.0.1:8443\noops\nlistne = 1\n",
	               "config.ini:3: syntax error: expected 'key = value' or '[rollcalld]'");
	assert_refused("[rollcalld]\nlistne = 1\noops\n", "config.ini:2: unknown key 'listne'");
}

static void test_empty_values_refused(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text, "tls_crl =");
	assert_refused(text, "config.ini:7: bad value for 'tls_crl': must not be empty");
	with_line(text, sizeof text, "instance_name = ");
	assert_refused(text, "config.ini:7: bad value for 'instance_name': must not be empty");
	with_line(text, sizeof text, "db_pool_size =");
	assert_refused(text, "config.ini:7: bad value for 'db_pool_size': expected an integer "
	                     "from 1 to 256");
}

static void test_unreadable_paths(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text, "tls_crl = missing.crl");
	assert_refused(text, "config.ini:7: bad value for 'tls_crl': cannot read missing.crl: No "
	                     "such file or directory");
	if (geteuid() != 0) { /* root reads anything */
		write_file("secret.pem", "x");
		assert_int_equal(chmod("secret.pem", 0), 0);
		with_line(text, sizeof text, "webhook_ca = secret.pem");
		assert_refused(text, "config.ini:7: bad value for 'webhook_ca': cannot read "
		                     "secret.pem: Permission denied");
	}
}

static void test_missing_file(void **state)
{
	(void)state;
	struct config config;
	char err[256];
	assert_false(config_load("no-such.ini", &config, err, sizeof err));
	assert_string_equal(err, "no-such.ini: No such file or directory");
	/* A small error buffer is cut, not overrun. */
	char small[8];
	assert_false(config_load("no-such.ini", &config, small, sizeof small));
	assert_string_equal(small, "no-such");
}

static void test_long_lines_and_database_continuation(void **state)
{
	(void)state;
	/* inih reads lines of at most 198 bytes: a longer one is refused, not cut. */
	char text[2048], line[400];
	snprintf(line, sizeof line, "instance_name = %0*d", 190, 0);
	with_line(text, sizeof text, line);
	assert_refused(text, "config.ini:7: line longer than 198 bytes; continue 'database' on "
	                     "indented lines if it needs more");

	struct config config;
	snprintf(line, sizeof line, "instance_name = %0*d", 182, 0); /* 198 bytes exactly */
	with_line(text, sizeof text, line);
	load_ok(text, &config);
	assert_int_equal(strlen(config.instance_name), 182);
	config_free(&config);

	load_ok("[rollcalld]\n"
	        "listen = 127.0.0.1:8443\n"
	        "tls_cert = server.crt\n"
	        "tls_key = server.key\n"
	        "tls_ca = ca.crt\n"
	        "database = host=db.example.dk port=5432\n"
	        "    dbname=rollcall user=rollcalld\n"
	        "\tsslmode=verify-full\n"
	        "log_level = warn\n",
	        &config);
	assert_string_equal(config.database, "host=db.example.dk port=5432 dbname=rollcall "
	                                     "user=rollcalld sslmode=verify-full");
	assert_int_equal(config.log_level, LOG_WARN);
	config_free(&config);

	/* Any other key takes one line: an indented line under it is a mistake. */
	assert_refused("[rollcalld]\nlisten = 127.0.0.1:8443\n  tls_cert = server.crt\n",
	               "config.ini:3: indented line continues 'listen', which takes one line");
}

static void test_crlf_bom_and_spacing(void **state)
{
	(void)state;
	struct config config;
	load_ok("\xef\xbb\xbf[rollcalld]\r\n"
	        "listen=127.0.0.1:8443\r\n"
	        "tls_cert   =   server.crt   \r\n"
	        "tls_key = server.key\r\n"
	        "\r\n"
	        "tls_ca = ca.crt\r\n"
	        "database = dbname=rollcall\r\n"
	        "test_clock = on\r\n",
	        &config);
	assert_string_equal(config.listen_host, "127.0.0.1");
	assert_string_equal(config.tls_cert, "server.crt");
	assert_string_equal(config.database, "dbname=rollcall");
	assert_true(config.test_clock);
	config_free(&config);
	/* Line numbers count from the first line even with a BOM. */
	assert_refused("\xef\xbb\xbf[rollcalld]\nlistne = x\n",
	               "config.ini:2: unknown key 'listne'");
}

static void test_control_characters_refused(void **state)
{
	(void)state;
	char text[1024];
	with_line(text, sizeof text,
	          "bootstrap_admin = it\x01"
	          "admin");
	assert_refused(text, "config.ini:7: bad value for 'bootstrap_admin': must not contain "
	                     "control characters");
}

static void test_free_zeroes_and_tolerates_repeats(void **state)
{
	(void)state;
	struct config config, zero;
	memset(&zero, 0, sizeof zero);
	load_ok(required_keys, &config);
	config_free(&config);
	assert_memory_equal(&config, &zero, sizeof config);
	config_free(&config);
	config_free(NULL);
}

static void test_key_names_are_the_documented_set(void **state)
{
	(void)state;
	static const char *const expected[] = {
	    "listen",
	    "tls_cert",
	    "tls_key",
	    "tls_ca",
	    "tls_crl",
	    "tls_min_version",
	    "database",
	    "bootstrap_admin",
	    "webhook_ca",
	    "webhook_proxy",
	    "public_url",
	    "smtp_relay",
	    "smtp_from",
	    "smtp_ca",
	    "admin_email",
	    "test_clock",
	    "log_level",
	    "log_format",
	    "db_pool_size",
	    "max_connections",
	    "max_body_bytes",
	    "max_header_bytes",
	    "idle_timeout",
	    "request_timeout",
	    "handshake_timeout",
	    "request_rate",
	    "request_burst",
	    "sse_heartbeat",
	    "webhook_timeout",
	    "webhook_backoff_max",
	    "instance_name",
	    NULL,
	};
	for (size_t i = 0;; i++) {
		if (expected[i] == NULL) {
			assert_null(config_key_names[i]);
			break;
		}
		assert_non_null(config_key_names[i]);
		assert_string_equal(config_key_names[i], expected[i]);
	}
}

/* smtp_relay is host:port and smtp_from one plain address: nothing that could reach the SMTP
 * dialogue or a header. */
static void test_smtp_keys(void **state)
{
	(void)state;
	char text[1024];
	struct config config;
	load_ok(required_keys, &config);
	assert_null(config.smtp_relay);
	assert_null(config.smtp_from);
	assert_null(config.smtp_ca);
	config_free(&config);
	with_line(text, sizeof text, "smtp_relay = mail.example.org:587\nsmtp_from = a@b.example");
	load_ok(text, &config);
	assert_string_equal(config.smtp_relay, "mail.example.org:587");
	assert_string_equal(config.smtp_from, "a@b.example");
	config_free(&config);
	static const char *const bad_relays[] = {
	    "mail.example.org", ":25", "mail:0", "mail:65536", "mail:25x", "ma il:25", NULL};
	for (size_t i = 0; bad_relays[i]; i++) {
		char line[128], expected[256];
		snprintf(line, sizeof line, "smtp_relay = %s", bad_relays[i]);
		with_line(text, sizeof text, line);
		snprintf(expected, sizeof expected,
		         "config.ini: smtp_relay must be host:port, not '%s'", bad_relays[i]);
		assert_refused(text, expected);
	}
	static const char *const bad_from[] = {"nobody", "a@b@c", "<a@b>", "a b@c", "@b", NULL};
	for (size_t i = 0; bad_from[i]; i++) {
		char line[128], expected[256];
		snprintf(line, sizeof line, "smtp_from = %s", bad_from[i]);
		with_line(text, sizeof text, line);
		snprintf(expected, sizeof expected,
		         "config.ini: smtp_from must be one address (name@domain), not '%s'",
		         bad_from[i]);
		assert_refused(text, expected);
	}
	with_line(text, sizeof text, "smtp_relay = mail:25\nadmin_email = it@centre.example");
	load_ok(text, &config);
	assert_string_equal(config.admin_email, "it@centre.example");
	config_free(&config);
	with_line(text, sizeof text, "smtp_relay = mail:25\nadmin_email = it, ops@x");
	assert_refused(
	    text, "config.ini: admin_email must be one address (name@domain), not 'it, ops@x'");
	with_line(text, sizeof text, "admin_email = it@centre.example");
	assert_refused(text,
	               "config.ini: admin_email needs smtp_relay (the relay it is sent through)");
}

/* public_url: https:// + listen unless set; a trailing '/' is dropped so that receipt_url never
 * holds "//"; anything but an https:// URL without query or fragment is refused. */
static void test_public_url(void **state)
{
	(void)state;
	char text[1024];
	struct config config;
	load_ok(required_keys, &config);
	char expected_default[300];
	snprintf(expected_default, sizeof expected_default, "https://%s:%d", config.listen_host,
	         config.listen_port);
	assert_string_equal(config.public_url, expected_default);
	config_free(&config);
	with_line(text, sizeof text, "public_url = https://rollcall.example.dk/base/");
	load_ok(text, &config);
	assert_string_equal(config.public_url, "https://rollcall.example.dk/base");
	config_free(&config);
	static const char *const bad[] = {
	    "http://rollcall.example.dk", "https://", "rollcall", "https://a.example/?x=1",
	    "https://a.example/#f",       NULL};
	for (size_t i = 0; bad[i]; i++) {
		char line[128], expected[256];
		snprintf(line, sizeof line, "public_url = %s", bad[i]);
		with_line(text, sizeof text, line);
		snprintf(
		    expected, sizeof expected,
		    "config.ini: public_url must be an https:// URL without query or fragment, "
		    "not '%s'",
		    bad[i]);
		assert_refused(text, expected);
	}
}

static void test_tls_min_version(void **state)
{
	(void)state;
	struct config config;
	char text[1024];
	with_line(text, sizeof text, "tls_min_version = 1.2");
	load_ok(text, &config);
	assert_int_equal(config.tls_min_version, 12);
	config_free(&config);
	load_ok(required_keys, &config);
	assert_int_equal(config.tls_min_version, 13); /* the default */
	config_free(&config);
	with_line(text, sizeof text, "tls_min_version = 1.1");
	assert_refused(text, "config.ini:7: bad value for 'tls_min_version': expected 1.2 or 1.3");
}

static void test_restart_keys(void **state)
{
	(void)state;
	struct config running, loaded;
	char text[1024], keys[256];
	load_ok(required_keys, &running);

	/* Certificates, CRL, log level and webhook CA are what SIGHUP applies. */
	snprintf(text, sizeof text,
	         "%slog_level = debug\ntls_crl = ca.crl\nwebhook_ca = webhooks.pem\n",
	         required_keys);
	load_ok(text, &loaded);
	assert_false(config_restart_keys(&running, &loaded, keys, sizeof keys));
	assert_string_equal(keys, "");
	config_free(&loaded);

	snprintf(text, sizeof text,
	         "[rollcalld]\nlisten = 127.0.0.1:9443\ntls_cert = server.crt\n"
	         "tls_key = server.key\ntls_ca = ca.crt\ndatabase = dbname=other\n"
	         "db_pool_size = 9\ninstance_name = %s\n",
	         running.instance_name);
	load_ok(text, &loaded);
	assert_true(config_restart_keys(&running, &loaded, keys, sizeof keys));
	/* public_url is unset, so it follows listen (https:// + listen) and changes with it. */
	assert_string_equal(keys, "listen, database, public_url, db_pool_size");
	char small[10];
	assert_true(config_restart_keys(&running, &loaded, small, sizeof small));
	assert_true(strlen(small) < sizeof small);
	config_free(&loaded);
	config_free(&running);
}

static void test_docs_carry_the_reference_table(void **state)
{
	(void)state;
#ifdef ROLLCALL_SCHEMA_DIR
	const char *docs_path = ROLLCALL_SCHEMA_DIR "/../docs/config.md";
#else
	skip();
	const char *docs_path = "";
#endif
	FILE *docs = fopen(docs_path, "r");
	if (docs == NULL)
		fail_msg("cannot open %s", docs_path);
	static char doc_text[65536];
	size_t doc_len = fread(doc_text, 1, sizeof doc_text - 1, docs);
	fclose(docs);
	doc_text[doc_len] = '\0';

	char *table = NULL;
	size_t table_len = 0;
	FILE *out = open_memstream(&table, &table_len);
	assert_non_null(out);
	assert_true(config_write_reference(out));
	assert_int_equal(fclose(out), 0);
	if (strstr(doc_text, table) == NULL) {
		free(table);
		fail_msg("docs/config.md does not contain config_write_reference()'s table; "
		         "regenerate it");
	}
	/* And the table names every key. */
	for (size_t i = 0; config_key_names[i] != NULL; i++) {
		char cell[64];
		snprintf(cell, sizeof cell, "| `%s` |", config_key_names[i]);
		assert_non_null(strstr(table, cell));
	}
	free(table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_file_gets_defaults),
	    cmocka_unit_test(test_every_key_set),
	    cmocka_unit_test(test_unknown_key_names_line),
	    cmocka_unit_test(test_bad_boolean),
	    cmocka_unit_test(test_missing_required_keys),
	    cmocka_unit_test(test_listen_forms),
	    cmocka_unit_test(test_integer_values),
	    cmocka_unit_test(test_log_levels),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_syntax_errors_and_first_error_wins),
	    cmocka_unit_test(test_empty_values_refused),
	    cmocka_unit_test(test_unreadable_paths),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_long_lines_and_database_continuation),
	    cmocka_unit_test(test_crlf_bom_and_spacing),
	    cmocka_unit_test(test_control_characters_refused),
	    cmocka_unit_test(test_free_zeroes_and_tolerates_repeats),
	    cmocka_unit_test(test_key_names_are_the_documented_set),
	    cmocka_unit_test(test_smtp_keys),
	    cmocka_unit_test(test_public_url),
	    cmocka_unit_test(test_tls_min_version),
	    cmocka_unit_test(test_restart_keys),
	    cmocka_unit_test(test_docs_carry_the_reference_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
