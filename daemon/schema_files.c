/* Reading a schema directory and hashing it; see schema_files.h. */
#include "schema_files.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_manifest.h"

void schema_sha256_hex(const void *data, size_t len, char out[SCHEMA_HASH_SIZE])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	if (!EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) || digest_len != 32) {
		/* Only an OpenSSL without SHA-256 gets here; an impossible hash matches nothing. */
		memset(out, 'x', SCHEMA_HASH_SIZE - 1);
		out[SCHEMA_HASH_SIZE - 1] = '\0';
		return;
	}
	for (unsigned int i = 0; i < digest_len; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

void schema_code_hash(const struct schema_file *files, size_t count, char out[SCHEMA_HASH_SIZE])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; ok && i < count; i++)
		ok = EVP_DigestUpdate(ctx, files[i].name, strlen(files[i].name)) &&
		     EVP_DigestUpdate(ctx, " ", 1) &&
		     EVP_DigestUpdate(ctx, files[i].sha256, SCHEMA_HASH_SIZE - 1) &&
		     EVP_DigestUpdate(ctx, "\n", 1);
	ok = ok && EVP_DigestFinal_ex(ctx, digest, &digest_len) && digest_len == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		memset(out, 'x', SCHEMA_HASH_SIZE - 1);
		out[SCHEMA_HASH_SIZE - 1] = '\0';
		return;
	}
	for (unsigned int i = 0; i < digest_len; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static char *read_whole(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	long len = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len + 1)) != NULL) {
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else {
			buf[len] = '\0';
			*len_out = (size_t)len;
		}
	}
	fclose(f);
	return buf;
}

static bool is_migration_name(const char *name)
{
	size_t len = strlen(name);
	return len > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
	       name[2] >= '0' && name[2] <= '9' && name[3] == '_' &&
	       strcmp(name + len - 4, ".sql") == 0;
}

static bool is_code_name(const char *name)
{
	size_t len = strlen(name);
	return len > 4 && name[0] != '.' && strcmp(name + len - 4, ".sql") == 0;
}

static int compare_files(const void *a, const void *b)
{
	return strcmp(((const struct schema_file *)a)->name, ((const struct schema_file *)b)->name);
}

static void files_free(struct schema_file *files, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(files[i].name);
		free(files[i].sql);
	}
	free(files);
}

/* Reads every file of dir whose name passes accept, sorted by name. */
static bool read_files(const char *dir, bool (*accept)(const char *), struct schema_file **out,
                       size_t *count_out, char *err, size_t errlen)
{
	struct schema_file *files = NULL;
	size_t count = 0;
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
		return false;
	}
	struct dirent *entry;
	bool ok = true;
	while (ok && (entry = readdir(d)) != NULL) {
		if (!accept(entry->d_name))
			continue;
		struct schema_file *grown = realloc(files, (count + 1) * sizeof *files);
		if (!grown) {
			snprintf(err, errlen, "out of memory");
			ok = false;
			break;
		}
		files = grown;
		struct schema_file *f = &files[count];
		*f = (struct schema_file){0};
		char path[4096];
		size_t len = 0;
		int path_len = snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
		if (path_len < 0 || (size_t)path_len >= sizeof path) {
			snprintf(err, errlen, "%s: path too long", dir);
			ok = false;
			break;
		}
		f->name = strdup(entry->d_name);
		f->sql = read_whole(path, &len);
		count++;
		if (!f->name || !f->sql) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			ok = false;
			break;
		}
		schema_sha256_hex(f->sql, len, f->sha256);
	}
	closedir(d);
	if (!ok) {
		files_free(files, count);
		return false;
	}
	if (count > 0)
		qsort(files, count, sizeof *files, compare_files);
	*out = files;
	*count_out = count;
	return true;
}

bool schema_dir_load(const char *dir, struct schema_dir *out, char *err, size_t errlen)
{
	*out = (struct schema_dir){0};
	char path[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/migrations", dir) >= sizeof path) {
		snprintf(err, errlen, "%s: path too long", dir);
		return false;
	}
	if (!read_files(path, is_migration_name, &out->migrations, &out->migration_count, err,
	                errlen))
		return false;
	for (size_t i = 0; i < out->migration_count; i++) {
		if (atoi(out->migrations[i].name) != (int)i + 1) {
			snprintf(err, errlen, "%s/%s is out of sequence (expected number %03zu)",
			         path, out->migrations[i].name, i + 1);
			schema_dir_free(out);
			return false;
		}
	}
	snprintf(path, sizeof path, "%s/code", dir);
	if (!read_files(path, is_code_name, &out->code, &out->code_count, err, errlen)) {
		schema_dir_free(out);
		return false;
	}
	schema_code_hash(out->code, out->code_count, out->code_hash);
	return true;
}

void schema_dir_free(struct schema_dir *sd)
{
	files_free(sd->migrations, sd->migration_count);
	files_free(sd->code, sd->code_count);
	*sd = (struct schema_dir){0};
}

/* Compares one list of files with the build's; "kind" is "migrations" or "code". */
static bool check_list(const struct schema_file *files, size_t count,
                       const struct schema_manifest_file *built, size_t built_count,
                       const char *kind, char *err, size_t errlen)
{
	for (size_t i = 0; i < count || i < built_count; i++) {
		if (i >= built_count) {
			snprintf(err, errlen, "%s/%s is not part of this build", kind,
			         files[i].name);
			return false;
		}
		if (i >= count) {
			snprintf(err, errlen, "%s/%s of this build is missing", kind,
			         built[i].name);
			return false;
		}
		if (strcmp(files[i].name, built[i].name) != 0) {
			snprintf(err, errlen, "%s/%s is not part of this build (it has %s there)",
			         kind, files[i].name, built[i].name);
			return false;
		}
		if (strcmp(files[i].sha256, built[i].sha256) != 0) {
			snprintf(err, errlen,
			         "%s/%s differs from the file this rollcalld was built with", kind,
			         files[i].name);
			return false;
		}
	}
	return true;
}

bool schema_dir_check_build(const struct schema_dir *sd, char *err, size_t errlen)
{
	return check_list(sd->migrations, sd->migration_count, schema_manifest_migrations,
	                  schema_manifest_migration_count, "migrations", err, errlen) &&
	       check_list(sd->code, sd->code_count, schema_manifest_code,
	                  schema_manifest_code_count, "code", err, errlen);
}
