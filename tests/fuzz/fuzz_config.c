/* libFuzzer harness: the daemon's configuration reader (daemon/config.c, inih underneath) on
 * any file content: unknown and repeated keys, bad values, long lines, NUL bytes. The file is an
 * anonymous memory file read through /proc/self/fd. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("rollcalld.ini", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		char path[64], err[512];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		struct config config;
		if (config_load(path, &config, err, sizeof err))
			config_free(&config);
	}
	close(fd);
	return 0;
}
