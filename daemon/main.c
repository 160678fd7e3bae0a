/* rollcalld: command line, start-up checks, the event loop, and the signals that reload (HUP)
 * and drain (TERM/INT) it. */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_mail.h"
#include "audit_seal.h"
#include "audit_verify.h"
#include "board_files.h"
#include "cert_expiry.h"
#include "clock.h"
#include "config.h"
#include "curl_loop.h"
#include "daemon.h"
#include "db.h"
#include "db_startup.h"
#include "listener_guard.h"
#include "log.h"
#include "request_gate.h"
#include "revocation.h"
#include "metrics.h"
#include "schema_manifest.h"
#include "schema_migrate.h"
#include "server.h"
#include "service.h"

#define DRAIN_LIMIT_S 30

struct daemon *daemon_state;

static const char usage[] =
    "usage: rollcalld --config FILE [--migrate | --verify-audit] [--schema-dir DIR]\n"
    "\n"
    "The rollcall operations daemon: attendance rounds, absences and alerts, notifications\n"
    "to the authorities and cash allowances, served over HTTPS with mutual TLS.\n"
    "\n"
    "  -c, --config FILE     configuration file (INI, section [rollcalld])\n"
    "  -m, --migrate         bring the database to this build's schema (pending migrations and\n"
    "                        the SQL code layer, in one transaction) and exit\n"
    "  -a, --verify-audit    check the audit log's hash chain: print \"audit chain intact: N\n"
    "                        rows\" and exit 0, or name the first row that breaks it and exit 1\n"
    "                        (2: the database could not be read)\n"
    "  -s, --schema-dir DIR  the schema directory, holding migrations/ and code/ (default\n"
    "                        " ROLLCALL_SCHEMA_DIR ")\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the version and the schema it needs\n"
    "\n"
    "The duty-office board (GET /board/) is served from " ROLLCALL_BOARD_DIR ".\n"
    "\n"
    "Signals: SIGHUP reloads the TLS certificate, key, CA, CRL and log level (and closes\n"
    "connections whose certificate no longer verifies);\n"
    "SIGTERM or SIGINT stop accepting connections, finish requests in flight (and the\n"
    "queries they left, such as audit rows) and exit.\n";

static int64_t drain_started_us;

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event *self = arg;
	(void)fd, (void)what;
	int left = server_requests_in_flight(daemon_state->server);
	/* Queries sent and forgotten (audit rows of closed connections) are part of the work in
	 * flight: exiting before they ran would lose the row and the memory they hold. With the
	 * database down they would only wait for the limit, so they count only while it is up. */
	struct db_stats db;
	db_pool_stats(daemon_state->db, &db);
	int queries = db.connections_up > 0 ? db.busy + db.queued : 0;
	bool timed_out = clock_monotonic_us() - drain_started_us > DRAIN_LIMIT_S * 1000000LL;
	if ((left <= 0 && queries <= 0) || timed_out) {
		if (left > 0 || queries > 0)
			log_warn("drain: giving up on %d requests and %d queries after %d s", left,
			         queries, DRAIN_LIMIT_S);
		log_info("drained; exiting");
		event_base_loopexit(daemon_state->base, NULL);
		return;
	}
	struct timeval tv = {0, 50000};
	evtimer_add(self, &tv);
}

static void on_terminate(evutil_socket_t sig, short what, void *arg)
{
	struct event *drain_timer = arg;
	(void)what;
	if (daemon_state->draining)
		return;
	log_info("signal %d: draining", (int)sig);
	service_stopping();
	daemon_state->draining = true;
	drain_started_us = clock_monotonic_us();
	server_stop_accepting(daemon_state->server);
	if (daemon_state->alerts)
		alert_hub_close_all(daemon_state->alerts);
	struct timeval tv = {0, 0};
	evtimer_add(drain_timer, &tv);
}

static const char *config_path;

static void reload(void);

/* SIGHUP, told to systemd (Type=notify) as a reload from start to end. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	service_reloading();
	reload();
	service_reloaded();
}

static void reload(void)
{
	struct config fresh;
	char err[512];
	if (!config_load(config_path, &fresh, err, sizeof err)) {
		log_error("reload: keeping the running configuration: %s", err);
		return;
	}
	struct config *c = daemon_state->config;
	char restart[512];
	if (config_restart_keys(c, &fresh, restart, sizeof restart))
		log_warn("reload: %s changed; those take effect at the next restart", restart);
	/* Swap in the reloadable keys; put the old values back if TLS refuses the new files. */
	char *old[5] = {c->tls_cert, c->tls_key, c->tls_ca, c->tls_crl, c->webhook_ca};
	c->tls_cert = fresh.tls_cert, c->tls_key = fresh.tls_key, c->tls_ca = fresh.tls_ca;
	c->tls_crl = fresh.tls_crl, c->webhook_ca = fresh.webhook_ca;
	if (server_reload_tls(daemon_state->server)) {
		fresh.tls_cert = old[0], fresh.tls_key = old[1], fresh.tls_ca = old[2];
		fresh.tls_crl = old[3], fresh.webhook_ca = old[4];
		log_set_level(fresh.log_level);
		c->log_level = fresh.log_level;
		log_set_format(fresh.log_format);
		c->log_format = fresh.log_format;
		if (daemon_state->cert)
			cert_expiry_reload(daemon_state->cert);
		if (daemon_state->sender && !sender_reload_ca(daemon_state->sender))
			log_error("reload: the webhook CA bundle could not be reloaded");
	} else {
		c->tls_cert = old[0], c->tls_key = old[1], c->tls_ca = old[2];
		c->tls_crl = old[3], c->webhook_ca = old[4];
	}
	config_free(&fresh);
}

/* Another instance moved the test clock. */
static void on_clock_notify(void *arg, const char *channel, const char *payload)
{
	int64_t us;
	(void)arg, (void)channel;
	if (payload && clock_is_test() && clock_parse(payload, &us))
		clock_set_us(us);
}

static int run(struct config *config)
{
	int status = 1;
	struct daemon d = {.config = config};
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL, *drain_timer = NULL;
	struct audit_sealer *sealer = NULL;
	daemon_state = &d;

	int64_t stored_clock = 0;
	if (!db_startup_check(config->database, config->bootstrap_admin, clock_now_us(),
	                      &stored_clock))
		return 1;
	if (config->test_clock) {
		clock_use_test(true);
		if (stored_clock)
			clock_set_us(stored_clock);
		char now[CLOCK_TEXT_SIZE];
		clock_format(clock_now_us(), now);
		log_warn("test clock in use (now %s): never in production", now);
	}

	descriptors_raise_limit();
	d.base = event_base_new();
	if (!d.base)
		goto done;
	/* Half the pool's connections for one certificate's calls at a time: however much one
	 * terminal sends, the other half is there for everyone else (request_gate.c). */
	d.gate = request_gate_new(config->db_pool_size > 1 ? config->db_pool_size / 2 : 1);
	if (!d.gate)
		goto done;
	d.db = db_pool_new(d.base, config->database, config->db_pool_size);
	if (!d.db || !db_listen(d.db, "rc_clock", on_clock_notify, NULL))
		goto done;
	d.server = server_new(&d);
	if (!d.server)
		goto done;
	(void)metrics_check_routes(); /* logs when the route tables outgrow the counters */
	/* The board is a page for people, not part of alerting: without its files the daemon
	 * still runs and GET /board/ answers 503 (board_files_load logs why). */
	if (!board_files_load(ROLLCALL_BOARD_DIR))
		log_warn("running without the duty-office board");
	d.cert = cert_expiry_new(&d);
	if (!d.cert)
		goto done;
	d.due = due_engine_new(&d);
	d.alerts = alert_hub_new(&d);
	d.curl = curl_loop_new(d.base);
	d.sender = d.curl ? sender_new(&d) : NULL;
	if (!d.due || !d.alerts || !d.sender || !revocation_start(&d)) {
		log_error("cannot start the timing engine, alert hub, webhook sender or account "
		          "re-checks");
		goto done;
	}
	sealer = audit_sealer_new(&d);
	if (!sealer) {
		log_error("cannot start the audit sealer");
		goto done;
	}
	if (!service_start(&d))
		goto done;
	drain_timer = evtimer_new(d.base, drain_check_cb, event_self_cbarg());
	sig_term = evsignal_new(d.base, SIGTERM, on_terminate, drain_timer);
	sig_int = evsignal_new(d.base, SIGINT, on_terminate, drain_timer);
	sig_hup = evsignal_new(d.base, SIGHUP, on_reload, NULL);
	if (!drain_timer || !sig_term || !sig_int || !sig_hup || evsignal_add(sig_term, NULL) ||
	    evsignal_add(sig_int, NULL) || evsignal_add(sig_hup, NULL))
		goto done;
	log_info("rollcalld %s ready (schema %zu, code %.12s, instance %s)", ROLLCALL_VERSION_TEXT,
	         schema_manifest_migration_count, schema_manifest_code_hash, config->instance_name);
	service_ready();
	if (event_base_dispatch(d.base) != 0)
		log_error("event loop failed");
	else
		status = 0;
done:
	service_stop();
	revocation_stop();
	if (d.alerts)
		alert_hub_free(d.alerts);
	if (d.sender)
		sender_free(d.sender);
	admin_mail_shutdown();
	curl_loop_free(d.curl); /* after its users: they cancel their transfers first */
	if (d.due)
		due_engine_free(d.due);
	audit_sealer_free(sealer);
	server_free(d.server);
	board_files_unload();
	cert_expiry_free(d.cert);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	if (sig_hup)
		event_free(sig_hup);
	if (drain_timer)
		event_free(drain_timer);
	db_pool_free(d.db);
	request_gate_free(d.gate);
	if (d.base)
		event_base_free(d.base);
	daemon_state = NULL;
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"migrate", no_argument, NULL, 'm'},
	    {"verify-audit", no_argument, NULL, 'a'},
	    {"schema-dir", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	bool migrate = false, verify_audit = false;
	const char *schema_dir = ROLLCALL_SCHEMA_DIR;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:mas:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'm':
			migrate = true;
			break;
		case 'a':
			verify_audit = true;
			break;
		case 's':
			schema_dir = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("rollcalld %s (schema version %zu, code layer %s)\n",
			       ROLLCALL_VERSION_TEXT, schema_manifest_migration_count,
			       schema_manifest_code_hash);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc || !config_path || (migrate && verify_audit)) {
		fputs(usage, stderr);
		return 2;
	}
	/* libevent writes with writev() without MSG_NOSIGNAL: a vanished peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(clock_monotonic_us() ^ getpid()));

	struct config config;
	char err[512];
	if (!config_load(config_path, &config, err, sizeof err)) {
		fprintf(stderr, "rollcalld: %s\n", err);
		return 2;
	}
	log_set_level(config.log_level);
	log_set_format(config.log_format);
	/* Once, before any thread exists (curl's resolver threads come later). */
	if (!curl_loop_global_init(err, sizeof err)) {
		fprintf(stderr, "rollcalld: %s\n", err);
		config_free(&config);
		return 1;
	}
	int status = migrate        ? (schema_migrate(config.database, schema_dir) ? 0 : 1)
	             : verify_audit ? audit_verify(config.database)
	                            : run(&config);
	curl_loop_global_cleanup();
	config_free(&config);
	return status;
}
