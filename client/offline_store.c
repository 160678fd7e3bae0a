/* The terminal's own files for offline rounds (see offline_store.h). */
#include "offline_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p with mode 0700 for the directories this creates; an existing one is tightened to
 * 0700 only if it is rollcall's own (the last component). */
static bool make_dirs(char *path)
{
	for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash != NULL)
			*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "rollcall: cannot create %s: %s\n", path, strerror(errno));
			if (slash != NULL)
				*slash = '/';
			return false;
		}
		if (slash == NULL)
			break;
		*slash = '/';
	}
	if (chmod(path, 0700) != 0) {
		fprintf(stderr, "rollcall: cannot protect %s: %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

/* The directory's path; created only when create (listing a directory that does not exist
 * yet must not create it for every command). */
static bool dir_path(enum offline_dir which, char out[OFFLINE_PATH_SIZE], bool create)
{
	const char *variable = which == OFFLINE_CACHE ? "XDG_CACHE_HOME" : "XDG_STATE_HOME";
	const char *fallback = which == OFFLINE_CACHE ? ".cache" : ".local/state";
	const char *tail = which == OFFLINE_CACHE ? "rollcall" : "rollcall/pending";
	const char *base = getenv(variable);
	const char *home = getenv("HOME");
	int n;
	/* The XDG rule: a relative value is invalid and ignored. */
	if (base != NULL && base[0] == '/')
		n = snprintf(out, OFFLINE_PATH_SIZE, "%s/%s", base, tail);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, OFFLINE_PATH_SIZE, "%s/%s/%s", home, fallback, tail);
	else {
		/* Said only when something is to be kept: a listing finds nothing, quietly. */
		if (create)
			fprintf(stderr,
			        "rollcall: neither $%s nor $HOME is set: nowhere to keep offline "
			        "rounds\n",
			        variable);
		return false;
	}
	if (n < 0 || n >= OFFLINE_PATH_SIZE) {
		if (create)
			fprintf(stderr, "rollcall: the path of $%s is too long\n", variable);
		return false;
	}
	return !create || make_dirs(out);
}

bool offline_dir_path(enum offline_dir which, char out[OFFLINE_PATH_SIZE])
{
	return dir_path(which, out, true);
}

static bool file_path(enum offline_dir which, const char *name, char out[OFFLINE_PATH_SIZE])
{
	char dir[OFFLINE_PATH_SIZE];
	if (!offline_dir_path(which, dir))
		return false;
	int n = snprintf(out, OFFLINE_PATH_SIZE, "%s/%s", dir, name);
	if (n < 0 || n >= OFFLINE_PATH_SIZE || strchr(name, '/') != NULL) {
		fprintf(stderr, "rollcall: '%s' is not a file name for %s\n", name, dir);
		return false;
	}
	return true;
}

/* fsync of the directory holding path, so that a rename survives a power cut. */
static bool sync_dir_of(const char *path)
{
	char dir[OFFLINE_PATH_SIZE];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return false;
	bool ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

bool offline_write(enum offline_dir which, const char *name, const json_t *value)
{
	char path[OFFLINE_PATH_SIZE], temp[OFFLINE_PATH_SIZE + 16];
	if (!file_path(which, name, path))
		return false;
	snprintf(temp, sizeof(temp), "%s.tmp", path);
	char *text = json_dumps(value, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (text == NULL) {
		fprintf(stderr, "rollcall: out of memory\n");
		return false;
	}
	size_t len = strlen(text), done = 0;
	bool ok = false;
	int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto failed;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto failed;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto failed;
	if (close(fd) != 0) {
		fd = -1;
		goto failed;
	}
	fd = -1;
	if (rename(temp, path) != 0 || !sync_dir_of(path))
		goto failed;
	ok = true;
failed:
	if (!ok) {
		fprintf(stderr, "rollcall: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(temp);
	}
	free(text);
	return ok;
}

enum offline_read offline_read(enum offline_dir which, const char *name, json_t **value, char *why,
                               size_t whylen)
{
	char path[OFFLINE_PATH_SIZE];
	*value = NULL;
	why[0] = '\0';
	if (!file_path(which, name, path))
		return OFFLINE_READ_MISSING;
	if (access(path, F_OK) != 0)
		return OFFLINE_READ_MISSING;
	json_error_t error;
	*value = json_load_file(path, 0, &error);
	if (*value == NULL || !json_is_object(*value)) {
		snprintf(why, whylen, "line %d: %s", error.line,
		         *value ? "not a JSON object" : error.text);
		json_decref(*value);
		*value = NULL;
		return OFFLINE_READ_CORRUPT;
	}
	return OFFLINE_READ_OK;
}

bool offline_remove(enum offline_dir which, const char *name)
{
	char path[OFFLINE_PATH_SIZE];
	if (!file_path(which, name, path))
		return false;
	if (unlink(path) != 0 && errno != ENOENT) {
		fprintf(stderr, "rollcall: cannot remove %s: %s\n", path, strerror(errno));
		return false;
	}
	(void)sync_dir_of(path); /* the unlink stands even if this fails */
	return true;
}

bool offline_set_aside(enum offline_dir which, const char *name, const char *suffix,
                       char kept[OFFLINE_PATH_SIZE])
{
	char path[OFFLINE_PATH_SIZE];
	if (!file_path(which, name, path))
		return false;
	int n = snprintf(kept, OFFLINE_PATH_SIZE, "%s.%s", path, suffix);
	if (n < 0 || n >= OFFLINE_PATH_SIZE || rename(path, kept) != 0) {
		fprintf(stderr, "rollcall: cannot rename %s: %s\n", path, strerror(errno));
		return false;
	}
	(void)sync_dir_of(path);
	return true;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *offline_pending_names(void)
{
	return offline_list(OFFLINE_PENDING, "");
}

json_t *offline_list(enum offline_dir which, const char *prefix)
{
	char dir[OFFLINE_PATH_SIZE];
	json_t *names = json_array();
	if (names == NULL || !dir_path(which, dir, false))
		return names;
	DIR *d = opendir(dir);
	if (d == NULL)
		return names;
	char **found = NULL;
	size_t count = 0, cap = 0;
	struct dirent *entry;
	while ((entry = readdir(d)) != NULL) {
		size_t len = strlen(entry->d_name);
		if (len < 6 || strcmp(entry->d_name + len - 5, ".json") != 0 ||
		    strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (count == cap) {
			size_t grown = cap ? cap * 2 : 16;
			char **more = realloc(found, grown * sizeof(*found));
			if (more == NULL)
				break;
			found = more;
			cap = grown;
		}
		found[count] = strdup(entry->d_name);
		if (found[count] != NULL)
			count++;
	}
	closedir(d);
	if (count > 0)
		qsort(found, count, sizeof(*found), compare_names);
	for (size_t i = 0; i < count; i++) {
		(void)json_array_append_new(names, json_string(found[i]));
		free(found[i]);
	}
	free(found);
	return names;
}

size_t offline_pending_observations(void)
{
	json_t *names = offline_pending_names();
	size_t total = 0, index;
	json_t *name;
	json_array_foreach(names, index, name)
	{
		json_t *round = NULL;
		char why[200];
		if (offline_read(OFFLINE_PENDING, json_string_value(name), &round, why,
		                 sizeof(why)) == OFFLINE_READ_OK)
			total += json_array_size(json_object_get(round, "observations"));
		json_decref(round);
	}
	json_decref(names);
	return total;
}
