/* libFuzzer harness: the request framing scanner (daemon/http_framing.c) over any byte stream.
 * The first byte picks where the stream is split in two; the verdict (error and its offset)
 * must be the same fed whole, in those two pieces and a byte at a time, the offset within the
 * stream, and a stream it passes must stay passed by every prefix. A crash, undefined
 * behaviour or a disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_framing.h"

static void same(const struct http_framing *a, const struct http_framing *b)
{
	if (a->error != b->error || (a->error && a->error_at != b->error_at))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t split = data[0] % size;
	data++, size--;
	if (split > size)
		split = size;
	struct http_framing whole, two, bytes;
	http_framing_init(&whole);
	http_framing_init(&two);
	http_framing_init(&bytes);
	bool ok = http_framing_feed(&whole, data, size);
	http_framing_feed(&two, data, split);
	http_framing_feed(&two, data + split, size - split);
	for (size_t i = 0; i < size; i++)
		http_framing_feed(&bytes, data + i, 1);
	same(&whole, &two);
	same(&whole, &bytes);
	if (ok != (whole.error == NULL))
		abort();
	if (whole.error && whole.error_at >= size)
		abort();
	if (!whole.error && whole.offset != size)
		abort();
	/* Bad stays bad: more bytes never clear an error, nor move it. */
	if (whole.error) {
		uint64_t at = whole.error_at;
		http_framing_feed(&whole, data, size);
		if (!whole.error || whole.error_at != at)
			abort();
	}
	return 0;
}
