/* C handlers for routes where one api() call is not the whole job. Each is declared here and
 * referenced from a route table; see router.h. */
#ifndef ROLLCALL_HANDLERS_H
#define ROLLCALL_HANDLERS_H

struct request;

/* handlers_core.c */
void handle_healthz(struct request *req);   /* 200 {"status":"ok"} without touching the DB */
void handle_readyz(struct request *req);    /* 200, or 503 when PostgreSQL is unreachable */
void handle_metrics(struct request *req);   /* admin, metrics: Prometheus text (api op "metrics") */
void handle_clock_get(struct request *req); /* op "clock_get" */
void handle_clock_put(struct request *req); /* op "clock_set", then due_engine_run_now */

/* handlers_alerts.c (issue 4) */
void handle_alert_stream(struct request *req); /* op "alert_stream_open", then SSE */

/* handlers_statements.c (issue 6) */
void handle_resident_statement(struct request *req); /* op "statement_facts", arithmetic in C */
void handle_centre_statements(struct request *req);  /* JSON or CSV, streamed */

/* handlers_board.c (issue 13) */
void handle_board(struct request *req);          /* op "board_open", then a file of board_files.c */
void handle_board_redirect(struct request *req); /* GET /board: 308 to /board/ */

#endif
