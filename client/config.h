/* rollcall's configuration: the server's URL and the staff member's certificate, key and the CA
 * that issued the server's certificate, read with inih from an INI file (keys at the top level or
 * under [rollcall]). */
#ifndef ROLLCALL_CLIENT_CONFIG_H
#define ROLLCALL_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct client_config {
	char *path; /* the file read */
	char *url;  /* https://host[:port][/prefix] */
	char *cert; /* PEM client certificate (chain), absolute or relative to the file */
	char *key;  /* PEM private key */
	char *ca;   /* PEM CA bundle that must have issued the server's certificate */
};

/* The file to read: explicit (--config), else $ROLLCALL_CONFIG, else
 * ~/.config/rollcall/config. Writes it to out; false (with err) if none can be named. */
bool config_choose_path(const char *explicit_path, char *out, size_t outlen, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* Reads and checks path. Relative file names are taken relative to the file's directory and
 * "~/" to $HOME. On failure returns false with one line in err naming the file, and the key and
 * line where that applies; *out is then empty. On success *out owns its strings. */
bool config_load(const char *path, struct client_config *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void config_free(struct client_config *config);

/* The known keys, for --help and the docs: NULL-terminated. */
extern const char *const config_keys[];

#endif
