
/*
 * A small mutation driver for the fuzz targets of t/fuzz, so they run
 * with gcc and AddressSanitizer where libFuzzer is not at hand (the
 * targets define LLVMFuzzerTestOneInput, and build with clang's
 * -fsanitize=fuzzer as they are).
 *
 *     target [-n iterations] [-s seed] corpus-file-or-dir ...
 *
 * Every corpus file is run as it is, then "iterations" inputs are made
 * from them by random edits (bytes flipped, inserted, deleted, ranges
 * repeated, JSON tokens inserted, two inputs spliced).  A crash or a
 * failed check aborts, and the input is written to fuzz-crash.bin.
 */


#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* AddressSanitizer's, when it is linked in */
void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));


#define FUZZ_MAX_INPUT  65536


typedef struct {
    uint8_t   *data;
    size_t     size;
} fuzz_input_t;


static fuzz_input_t   *corpus;
static size_t          ncorpus;
static uint64_t        state;
static const uint8_t  *current;
static size_t          current_size;


static const char  *tokens[] = {
    "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "\r\n", "\\u", "\\u00e9",
    "\\ud83d", "\\u0000", "\\n", "true", "false", "null", "0", "-1", "1.5e3",
    "123456789012345678901", "\xc3\xa9", "\xc0\x80", "\xed\xa0\x80", "\xff",
    "\x80", "\"text\":", "\"thought\":true", "\"candidates\":[",
    "\"functionCall\":{}", "\"usageMetadata\":{", "\"index\":",
    "\"finishReason\":\"STOP\"", "\"parts\":[", "\"content\":{", "data: ",
    "\n\n", "\r\r", ":ping\n", "event: x\n", NULL
};


static uint64_t
fuzz_rand(void)
{
    /* xorshift64*: the same run for the same seed */

    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;

    return state * 2685821657736338717ULL;
}


static void
fuzz_add(const uint8_t *data, size_t size)
{
    fuzz_input_t  *in;

    in = realloc(corpus, (ncorpus + 1) * sizeof(fuzz_input_t));
    if (in == NULL) {
        abort();
    }

    corpus = in;
    corpus[ncorpus].data = malloc(size ? size : 1);
    memcpy(corpus[ncorpus].data, data, size);
    corpus[ncorpus].size = size;
    ncorpus++;
}


static void
fuzz_load(const char *path)
{
    DIR            *dir;
    FILE           *f;
    size_t          n;
    uint8_t        *buf;
    struct stat     st;
    struct dirent  *de;
    char            sub[4096];

    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }

    if (S_ISDIR(st.st_mode)) {
        dir = opendir(path);

        while (dir && (de = readdir(dir)) != NULL) {
            if (de->d_name[0] != '.') {
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                fuzz_load(sub);
            }
        }

        if (dir) {
            closedir(dir);
        }

        return;
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }

    buf = malloc(FUZZ_MAX_INPUT);
    n = fread(buf, 1, FUZZ_MAX_INPUT, f);
    fclose(f);

    fuzz_add(buf, n);
    free(buf);
}


static size_t
fuzz_mutate(uint8_t *buf, size_t size, size_t max)
{
    size_t       i, n, at, len, edits;
    const char  *tok;
    fuzz_input_t *other;

    edits = 1 + fuzz_rand() % 4;

    while (edits--) {
        at = size ? fuzz_rand() % (size + 1) : 0;

        switch (fuzz_rand() % 7) {

        case 0:     /* flip a byte */
            if (size) {
                buf[at % size] ^= (uint8_t) (1 << (fuzz_rand() % 8));
            }
            break;

        case 1:     /* a random byte */
            if (size) {
                buf[at % size] = (uint8_t) fuzz_rand();
            }
            break;

        case 2:     /* delete a range */
            if (size) {
                at %= size;
                len = 1 + fuzz_rand() % 16;
                len = len > size - at ? size - at : len;
                memmove(buf + at, buf + at + len, size - at - len);
                size -= len;
            }
            break;

        case 3:     /* insert a token */
            for (n = 0; tokens[n]; n++) { /* void */ }
            tok = tokens[fuzz_rand() % n];
            len = strlen(tok);
            if (size + len <= max) {
                memmove(buf + at + len, buf + at, size - at);
                memcpy(buf + at, tok, len);
                size += len;
            }
            break;

        case 4:     /* repeat a range */
            if (size) {
                i = fuzz_rand() % size;
                len = 1 + fuzz_rand() % 64;
                len = len > size - i ? size - i : len;
                if (size + len <= max) {
                    memmove(buf + at + len, buf + at, size - at);
                    memmove(buf + at, buf + (i < at ? i : i + len), len);
                    size += len;
                }
            }
            break;

        case 5:     /* cut the end */
            size = at;
            break;

        default:    /* splice: this input's head, another's tail */
            other = &corpus[fuzz_rand() % ncorpus];
            if (other->size) {
                i = fuzz_rand() % other->size;
                len = other->size - i;
                if (at + len > max) {
                    len = max - at;
                }
                memcpy(buf + at, other->data + i, len);
                size = at + len;
            }
            break;
        }
    }

    return size;
}


static void fuzz_crash_handler(void);


static void
fuzz_abort(int signo)
{
    fuzz_crash_handler();

    signal(signo, SIG_DFL);
    raise(signo);
}


static void
fuzz_crash_handler(void)
{
    FILE  *f;

    if (current == NULL) {
        return;
    }

    f = fopen("fuzz-crash.bin", "wb");
    if (f) {
        fwrite(current, 1, current_size, f);
        fclose(f);
        fprintf(stderr, "fuzz: input written to fuzz-crash.bin\n");
    }
}


int
main(int argc, char **argv)
{
    int        i;
    long       iterations, it;
    size_t     size;
    uint8_t   *buf, *copy;
    fuzz_input_t *in;

    iterations = 100000;
    state = 0x9e3779b97f4a7c15ULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            iterations = atol(argv[++i]);

        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            state ^= strtoull(argv[++i], NULL, 10) * 0x2545f4914f6cdd1dULL;

        } else {
            fuzz_load(argv[i]);
        }
    }

    if (ncorpus == 0) {
        fuzz_add((const uint8_t *) "{}", 2);
    }

    /* a failed check aborts, a sanitizer report dies: keep the input */

    signal(SIGABRT, fuzz_abort);
    signal(SIGSEGV, fuzz_abort);

    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(fuzz_crash_handler);
    }

    for (i = 0; i < (int) ncorpus; i++) {
        current = corpus[i].data;
        current_size = corpus[i].size;
        LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].size);
    }

    buf = malloc(FUZZ_MAX_INPUT);

    for (it = 0; it < iterations; it++) {
        in = &corpus[fuzz_rand() % ncorpus];
        size = in->size > FUZZ_MAX_INPUT ? FUZZ_MAX_INPUT : in->size;
        memcpy(buf, in->data, size);

        size = fuzz_mutate(buf, size, FUZZ_MAX_INPUT);

        /* an exact-size copy: AddressSanitizer sees any read past it */

        copy = malloc(size ? size : 1);
        memcpy(copy, buf, size);

        current = copy;
        current_size = size;

        LLVMFuzzerTestOneInput(copy, size);

        free(copy);
    }

    current = NULL;

    for (i = 0; i < (int) ncorpus; i++) {
        free(corpus[i].data);
    }

    free(corpus);
    free(buf);

    printf("fuzz: %zu corpus inputs, %ld mutations, no failure\n",
           ncorpus, iterations);

    return 0;
}
