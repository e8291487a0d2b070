/* C versions of chunkscope's hottest loops (chunked framing's walk over whole
 * chunks, the capture writer's JSON escaping, the SSE fast path's counts),
 * each giving exactly what the Python code it stands in for gives
 * (chunkscope/core/speedups.py says which, and how that is checked).
 * Optional: without a C compiler the package installs without this module
 * and runs the same Python code.
 *
 * Nothing here decides anything the Python code does not: scan_chunks walks
 * only the chunks the Python hot path would take whole and stops, before
 * the chunk, at anything else, which the Python code then reads itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* scan_chunks(data, pos, base, room, max_size, hand_over) ->
 *     (pos, count, body, offsets, sizes, data, data_offsets)
 *
 * Whole plain chunks from ``pos``: a size line of 1 to 15 hex digits, the
 * first not 0, then CRLF (framing._PLAIN_SIZE_LINE); at most ``max_size``
 * data bytes; the data and its CRLF inside ``data``. Stops at the first
 * chunk that is not one, at its size line. ``offsets`` and ``sizes`` are
 * native int64 columns of the first ``room`` chunks (their size lines'
 * stream offsets, ``base + position``). The chunks' data, by ``hand_over``:
 * 0, not at all (``data`` and ``data_offsets`` are None); 1, ``data`` is a
 * list of one bytes object per chunk and ``data_offsets`` a list of their
 * stream offsets; 2, ``data`` is a pair (all the data in one bytes object,
 * an int64 column of where each chunk's data ends in it) and
 * ``data_offsets`` an int64 column of their stream offsets.
 */
typedef struct {
    Py_ssize_t line;  /* where the size line starts in data */
    Py_ssize_t start; /* where the chunk data starts */
    Py_ssize_t size;
} span;

static PyObject *
hand_over_spans(const unsigned char *buf, const span *spans, Py_ssize_t count,
                long long body, long long base, int hand_over, PyObject **offsets_out)
{
    if (hand_over == 2) {
        /* One buffer of all the data, and two int64 columns: where each
         * chunk's data ends in it, and its stream offset. */
        PyObject *joined = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)body);
        PyObject *ends = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
        PyObject *offsets = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
        PyObject *data = NULL;
        if (joined != NULL && ends != NULL && offsets != NULL) {
            char *out = PyBytes_AS_STRING(joined);
            int64_t *e = (int64_t *)PyBytes_AS_STRING(ends);
            int64_t *o = (int64_t *)PyBytes_AS_STRING(offsets);
            int64_t at = 0;
            for (Py_ssize_t i = 0; i < count; i++) {
                memcpy(out + at, buf + spans[i].start, (size_t)spans[i].size);
                at += spans[i].size;
                e[i] = at;
                o[i] = base + spans[i].start;
            }
            data = PyTuple_Pack(2, joined, ends);
        }
        Py_XDECREF(joined);
        Py_XDECREF(ends);
        if (data == NULL) {
            Py_XDECREF(offsets);
            return NULL;
        }
        *offsets_out = offsets;
        return data;
    }
    /* A bytes object per chunk, and a list of their stream offsets. */
    PyObject *data = PyList_New(count);
    PyObject *offsets = PyList_New(count);
    if (data == NULL || offsets == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        const span *c = &spans[i];
        PyObject *at = PyLong_FromLongLong(base + c->start);
        if (at == NULL)
            goto fail;
        PyList_SET_ITEM(offsets, i, at);
        PyObject *piece = PyBytes_FromStringAndSize((const char *)buf + c->start, c->size);
        if (piece == NULL)
            goto fail;
        PyList_SET_ITEM(data, i, piece);
    }
    *offsets_out = offsets;
    return data;
fail:
    Py_XDECREF(data);
    Py_XDECREF(offsets);
    return NULL;
}

static PyObject *
scan_chunks(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, room;
    long long base, max_size;
    int hand_over;
    if (!PyArg_ParseTuple(args, "y*nLnLi", &view, &pos, &base, &room, &max_size, &hand_over))
        return NULL;
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    PyObject *result = NULL;
    span *spans = NULL;
    Py_ssize_t cap = 0, count = 0;
    long long body = 0;
    if (pos < 0)
        pos = 0;
    if (room < 0)
        room = 0;
    if (hand_over < 0 || hand_over > 2) {
        PyErr_SetString(PyExc_ValueError, "hand_over must be 0, 1 or 2");
        goto done;
    }
    while (pos < n) {
        Py_ssize_t p = pos;
        int d = hex_value(buf[p]);
        if (d <= 0)
            break; /* not a hex digit, or a leading zero / the last-chunk */
        long long size = d;
        p++;
        while (p < n && p - pos < 15 && (d = hex_value(buf[p])) >= 0) {
            size = size * 16 + d;
            p++;
        }
        if (p + 1 >= n || buf[p] != '\r' || buf[p + 1] != '\n')
            break; /* an extension, a 16th digit, whitespace, a split line... */
        if (size > max_size)
            break;
        Py_ssize_t line_end = p + 2;
        if (size > n - line_end - 2)
            break; /* the data or its CRLF is not all here */
        Py_ssize_t end = line_end + (Py_ssize_t)size;
        if (buf[end] != '\r' || buf[end + 1] != '\n')
            break;
        if (count == cap) {
            Py_ssize_t grow = cap ? cap * 2 : 256;
            span *more = PyMem_Realloc(spans, (size_t)grow * sizeof(span));
            if (more == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            spans = more;
            cap = grow;
        }
        spans[count].line = pos;
        spans[count].start = line_end;
        spans[count].size = (Py_ssize_t)size;
        count++;
        body += size;
        pos = end + 2;
    }
    {
        Py_ssize_t kept = count < room ? count : room;
        PyObject *offsets = PyBytes_FromStringAndSize(NULL, kept * (Py_ssize_t)sizeof(int64_t));
        PyObject *sizes = PyBytes_FromStringAndSize(NULL, kept * (Py_ssize_t)sizeof(int64_t));
        PyObject *data = Py_None, *data_offsets = Py_None;
        if (offsets == NULL || sizes == NULL) {
            Py_XDECREF(offsets);
            Py_XDECREF(sizes);
            goto done;
        }
        int64_t *o = (int64_t *)PyBytes_AS_STRING(offsets);
        int64_t *s = (int64_t *)PyBytes_AS_STRING(sizes);
        for (Py_ssize_t i = 0; i < kept; i++) {
            o[i] = base + spans[i].line;
            s[i] = spans[i].size;
        }
        if (hand_over) {
            data = hand_over_spans(buf, spans, count, body, base, hand_over, &data_offsets);
            if (data == NULL) {
                Py_DECREF(offsets);
                Py_DECREF(sizes);
                goto done;
            }
            result = Py_BuildValue("(nnLNNNN)", pos, count, body, offsets, sizes, data,
                                   data_offsets);
        }
        else
            result = Py_BuildValue("(nnLNNOO)", pos, count, body, offsets, sizes, Py_None,
                                   Py_None);
    }
done:
    PyMem_Free(spans);
    PyBuffer_Release(&view);
    return result;
}

/* How many bytes json.dumps writes for each byte of a latin-1 string, with
 * ensure_ascii: printable ASCII but " and \ as itself (1), the seven with a
 * short escape as two, every other byte as \u00XX (6). */
static unsigned char escape_width[256];
static char short_escape[256][2]; /* the byte and a spare, or \ and its letter */
static const char hexdigits[] = "0123456789abcdef";
static unsigned char bits_set[256]; /* of each byte value */

/* The bits set in a 16-bit mask. A table, since __builtin_popcount without
 * -mpopcnt is a call into libgcc that cost as much as the escaping. */
static inline int
bit_count(unsigned mask)
{
    return bits_set[mask & 0xff] + bits_set[(mask >> 8) & 0xff];
}

static void
init_escape_width(void)
{
    static const char letters[][2] = {
        {'"', '"'}, {'\\', '\\'}, {'\b', 'b'}, {'\f', 'f'},
        {'\n', 'n'}, {'\r', 'r'}, {'\t', 't'},
    };
    for (int c = 0; c < 256; c++) {
        bits_set[c] = (unsigned char)((c & 1) + bits_set[c >> 1]);
        int plain = c >= ' ' && c <= '~' && c != '"' && c != '\\';
        escape_width[c] = plain ? 1 : 6;
        short_escape[c][0] = (char)c;
        short_escape[c][1] = 0;
    }
    for (size_t k = 0; k < sizeof letters / sizeof letters[0]; k++) {
        unsigned char c = (unsigned char)letters[k][0];
        escape_width[c] = 2;
        short_escape[c][0] = '\\';
        short_escape[c][1] = letters[k][1];
    }
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Some byte of w is 0. */
static inline uint64_t
has_zero(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* Some byte of w is not written as itself: below 0x20, 0x7f and above, '"' or '\\'. */
static inline int
needs_escape(uint64_t w)
{
    return (((w - 0x20 * ONES) & ~w & HIGHS) /* a byte < 0x20 (or >= 0x80) */
            | (w & HIGHS) | has_zero(w ^ (0x7f * ONES)) | has_zero(w ^ ('"' * ONES))
            | has_zero(w ^ ('\\' * ONES))) != 0;
}

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define VECTOR_ESCAPE 1

/* Bit k set: byte k of the 16 at p is not written as itself (any_mask), or
 * is written with a short two-byte escape (short_mask). */
static inline unsigned
any_mask(__m128i v)
{
    /* Signed: 0x80-0xff are negative, so "< 0x20" takes them with the controls. */
    __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    return (unsigned)_mm_movemask_epi8(m);
}

static inline unsigned
short_mask(__m128i v)
{
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\b')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\f')));
    return (unsigned)_mm_movemask_epi8(m);
}

/* The 16 bytes at p, of which those in ``any`` need escaping, written at
 * out; returns the new end. Each stretch between them is copied with one
 * 16-byte store, of which only the stretch is kept: what lies past it is
 * overwritten by what comes next. p must have 32 bytes after it, and out
 * room for 112 (six bytes for each of the 16, and a store past them; see
 * SLACK in json_escape). */
static inline char *
escape_each(const unsigned char *p, unsigned any, char *out)
{
    int last = 0;
    do {
        int k = __builtin_ctz(any);
        _mm_storeu_si128((__m128i *)out, _mm_loadu_si128((const __m128i *)(p + last)));
        out += k - last;
        unsigned char c = p[k];
        if (escape_width[c] == 2) {
            memcpy(out, short_escape[c], 2);
            out += 2;
        }
        else {
            memcpy(out, "\\u00", 4);
            out[4] = hexdigits[c >> 4];
            out[5] = hexdigits[c & 0xf];
            out += 6;
        }
        last = k + 1;
        any &= any - 1;
    } while (any);
    _mm_storeu_si128((__m128i *)out, _mm_loadu_si128((const __m128i *)(p + last)));
    return out + 16 - last;
}

/* SSE2 is x86's, so SSSE3 (tmmintrin.h) can be compiled for too; whether the
 * CPU has it is asked at run time (have_ssse3). */
#include <tmmintrin.h>
#define EXPAND_ESCAPE 1

/* For an 8-byte half whose bytes in mask m take short escapes: where each
 * output byte comes from (0x80: nowhere, a backslash goes there), and the
 * backslashes. */
static unsigned char expand_shuffle[256][16];
static unsigned char expand_slash[256][16];
static int have_ssse3;

static void
init_expand(void)
{
    for (int m = 0; m < 256; m++) {
        int o = 0;
        for (int k = 0; k < 8; k++) {
            if (m & (1 << k)) {
                expand_shuffle[m][o] = 0x80;
                expand_slash[m][o++] = '\\';
            }
            expand_shuffle[m][o] = (unsigned char)k;
            expand_slash[m][o++] = 0;
        }
        for (; o < 16; o++) {
            expand_shuffle[m][o] = 0x80;
            expand_slash[m][o] = 0;
        }
    }
    __builtin_cpu_init();
    have_ssse3 = __builtin_cpu_supports("ssse3");
}

/* The 16 bytes v, whose escapes (in ``any``) are all short, written at out
 * in two shuffles, each half spread out to make room for its backslashes,
 * whatever their number; returns the new end. The controls among them (all
 * below 0x10) become their letters; quotes and backslashes stay themselves. */
__attribute__((target("ssse3"))) static inline char *
expand_block(__m128i v, unsigned any, char *out)
{
    /* The letter of each short-escaped control byte, by its value. */
    const __m128i letters = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 'b', 't', 'n', 0, 'f', 'r', 0, 0);
    __m128i control = _mm_cmplt_epi8(v, _mm_set1_epi8(0x10));
    __m128i t = _mm_or_si128(_mm_andnot_si128(control, v),
                             _mm_and_si128(control, _mm_shuffle_epi8(letters, v)));
    unsigned lo = any & 0xff, hi = any >> 8;
    __m128i a = _mm_shuffle_epi8(t, _mm_loadu_si128((const __m128i *)expand_shuffle[lo]));
    a = _mm_or_si128(a, _mm_loadu_si128((const __m128i *)expand_slash[lo]));
    _mm_storeu_si128((__m128i *)out, a);
    out += 8 + bit_count(lo);
    __m128i b = _mm_shuffle_epi8(_mm_srli_si128(t, 8),
                                 _mm_loadu_si128((const __m128i *)expand_shuffle[hi]));
    b = _mm_or_si128(b, _mm_loadu_si128((const __m128i *)expand_slash[hi]));
    _mm_storeu_si128((__m128i *)out, b);
    return out + 8 + bit_count(hi);
}

/* Sixteen bytes at a time, while 32 are left: with ``shuffle`` (SSSE3),
 * blocks whose escapes are all short (SSE's quotes and line ends) by
 * expand_block, any other block with escapes byte by byte (escape_each).
 * With ``stop_long``, stops before the first block with a \u00XX escape,
 * for the caller to make room for it. Inlined into the two callers below,
 * so that only escape_expand is compiled for SSSE3. */
static inline __attribute__((always_inline)) char *
escape_blocks(const unsigned char *in, Py_ssize_t n, Py_ssize_t *at, char *out, int stop_long,
              int shuffle)
{
    Py_ssize_t i = *at;
    while (i + 32 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
        unsigned any = any_mask(v);
        if (!any) {
            _mm_storeu_si128((__m128i *)out, v);
            out += 16;
        }
        else if (shuffle && !(any & ~short_mask(v)))
            out = expand_block(v, any, out);
        else if (stop_long && (any & ~short_mask(v)))
            break;
        else
            out = escape_each(in + i, any, out);
        i += 16;
    }
    *at = i;
    return out;
}

__attribute__((target("ssse3"))) static char *
escape_expand(const unsigned char *in, Py_ssize_t n, Py_ssize_t *at, char *out, int stop_long)
{
    return escape_blocks(in, n, at, out, stop_long, 1);
}

/* Without SSSE3: every escape in turn. */
static char *
escape_plain(const unsigned char *in, Py_ssize_t n, Py_ssize_t *at, char *out, int stop_long)
{
    return escape_blocks(in, n, at, out, stop_long, 0);
}
#endif

/* Room for ``need`` more bytes after ``*out`` in ``*result``, which grows
 * (once, for all that is left) when it has less; 0 on a memory error. */
static int
make_room(PyObject **result, char **out, Py_ssize_t need)
{
    char *start = PyBytes_AS_STRING(*result);
    Py_ssize_t used = *out - start;
    if (PyBytes_GET_SIZE(*result) - used >= need)
        return 1;
    if (_PyBytes_Resize(result, used + need) < 0)
        return 0;
    *out = PyBytes_AS_STRING(*result) + used;
    return 1;
}

/* json_escape(data) -> bytes: what json.dumps(data.decode("latin-1")) writes
 * between its quotes (json.encoder.encode_basestring_ascii).
 *
 * One pass: the result starts with room for every byte escaped short (twice
 * the input, SSE's worst case) and grows, once, to room for six bytes per
 * byte left at the first \u00XX escape; it is cut to its length at the end.
 * Counting the length first took more than half the time on SSE bodies
 * (1.35 GB/s with the count, 2.7-3.1 GB/s without, in 64 KiB pieces). */
static PyObject *
json_escape(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *in = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, i = 0;
    /* SLACK covers the 16-byte stores past a block's end and one block's
     * \u00XX escapes (at most 96 bytes for 16) beyond the short-escape room. */
    enum { SLACK = 160 };
    if (n > (PY_SSIZE_T_MAX - SLACK) / 6) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, 2 * n + SLACK);
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(result);
#ifdef VECTOR_ESCAPE
    /* Blocks with short escapes only fit the room made above; at the first
     * \u00XX escape the result grows to room for six bytes per byte left,
     * and the rest goes on without looking at the room again. */
    for (int stop_long = 1; stop_long >= 0; stop_long--) {
        if (have_ssse3)
            out = escape_expand(in, n, &i, out, stop_long);
        else
            out = escape_plain(in, n, &i, out, stop_long);
        if (i + 32 > n)
            break;
        if (!make_room(&result, &out, 6 * (n - i) + SLACK))
            goto fail;
    }
#endif
    if (!make_room(&result, &out, 6 * (n - i) + 16))
        goto fail;
    while (i < n) {
        /* Eight bytes at a time while none needs escaping (most of a body),
         * then byte by byte, eight of them, without a branch for the short
         * escapes: each byte writes two (itself and a spare, or \ and a
         * letter) and moves on by its width. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, in + i, 8);
            if (needs_escape(w))
                break;
            memcpy(out, &w, 8);
            out += 8;
            i += 8;
        }
        for (Py_ssize_t stop = i + 8 < n ? i + 8 : n; i < stop; i++) {
            unsigned char c = in[i];
            if (escape_width[c] <= 2) {
                memcpy(out, short_escape[c], 2);
                out += escape_width[c];
                continue;
            }
            memcpy(out, "\\u00", 4);
            out[4] = hexdigits[c >> 4];
            out[5] = hexdigits[c & 0xf];
            out += 6;
        }
    }
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&result, out - PyBytes_AS_STRING(result)) < 0)
        return NULL;
    return result;
fail:
    Py_XDECREF(result);
    PyBuffer_Release(&view);
    return NULL;
}

/* count_byte(data, byte, start, end) -> int: data.count(bytes([byte]), start, end),
 * sixteen bytes at a time (CPython's one-byte count looks at each byte). */
static PyObject *
count_byte(PyObject *module, PyObject *args)
{
    Py_buffer view;
    int byte;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*inn", &view, &byte, &start, &end))
        return NULL;
    Py_ssize_t n = view.len, count = 0;
    if (start < 0)
        start = start + n < 0 ? 0 : start + n;
    if (end < 0)
        end = end + n < 0 ? 0 : end + n;
    if (end > n)
        end = n;
    const char *p = (const char *)view.buf + (start < end ? start : end);
    const char *stop = (const char *)view.buf + end;
#ifdef VECTOR_ESCAPE
    const __m128i needle = _mm_set1_epi8((char)byte);
    for (; stop - p >= 16; p += 16)
        count += bit_count((unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), needle)));
#endif
    while (p < stop) {
        const char *hit = memchr(p, byte & 0xff, (size_t)(stop - p));
        if (hit == NULL)
            break;
        count++;
        p = hit + 1;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

/* count_marker(data, marker, start, end) -> int: data.count(marker, start, end)
 * for a marker of 2 or more bytes (matches do not overlap): where its first
 * two bytes are, sixteen places at a time, then memcmp for the rest; memchr
 * for its first byte in the last few bytes. Faster than CPython's search for
 * the SSE fast path's markers, which start with a blank line. */
static PyObject *
count_marker(PyObject *module, PyObject *args)
{
    Py_buffer view, marker;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*y*nn", &view, &marker, &start, &end))
        return NULL;
    Py_ssize_t n = view.len, m = marker.len, count = 0;
    if (m < 2) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&marker);
        PyErr_SetString(PyExc_ValueError, "marker must be 2 bytes or more");
        return NULL;
    }
    if (start < 0)
        start = start + n < 0 ? 0 : start + n;
    if (end < 0)
        end = end + n < 0 ? 0 : end + n;
    if (end > n)
        end = n;
    if (start > n)
        start = n;
    const char *base = (const char *)view.buf, *mk = (const char *)marker.buf;
    const char *p = base + start, *last = base + end - m; /* the last place a match can start */
#ifdef VECTOR_ESCAPE
    if (end - start >= m) {
        const __m128i first = _mm_set1_epi8(mk[0]), second = _mm_set1_epi8(mk[1]);
        const char *next = p; /* where the next match may start: after the last one */
        /* p + 16 is read: stay 17 bytes inside the buffer, and stop once
         * every place to look at is past the last start. */
        for (; p <= last && base + n - p >= 17; p += 16) {
            unsigned at = (unsigned)_mm_movemask_epi8(
                              _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), first))
                          & (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
                              _mm_loadu_si128((const __m128i *)(p + 1)), second));
            while (at) {
                const char *q = p + __builtin_ctz(at);
                at &= at - 1;
                if (q < next || q > last)
                    continue;
                if (memcmp(q + 2, mk + 2, (size_t)(m - 2)) == 0) {
                    count++;
                    next = q + m;
                }
            }
        }
        if (p < next)
            p = next;
    }
#endif
    while (end - start >= m && p <= last) {
        const char *hit = memchr(p, mk[0], (size_t)(last - p + 1));
        if (hit == NULL)
            break;
        if (memcmp(hit + 1, mk + 1, (size_t)(m - 1)) == 0) {
            count++;
            p = hit + m;
        }
        else
            p = hit + 1;
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&marker);
    return PyLong_FromSsize_t(count);
}

/* Decimal digits of v (not negative) at out; returns their number. */
static int
write_decimal(char *out, long long v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (int k = 0; k < n; k++)
        out[k] = digits[n - 1 - k];
    return n;
}

/* chunk_records(first, offsets, sizes, t) -> bytes: the JSON report's records
 * of plain chunks (no extension, a size line of hex digits and CRLF), indexes
 * first, first + 1, ...: offsets and sizes are int64 columns, t the read's
 * time as JSON. The records are joined by ",\n", each exactly as
 * core/report.py's _chunk_record writes it, with the data offset at
 * offset + hex digits of size + 2 (ChunkTable.rows). */
static PyObject *
chunk_records(PyObject *module, PyObject *args)
{
    Py_buffer offsets, sizes, t;
    long long first;
    if (!PyArg_ParseTuple(args, "Ly*y*y*", &first, &offsets, &sizes, &t))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t count = offsets.len / 8;
    if (offsets.len % 8 || sizes.len != offsets.len || first < 0) {
        PyErr_SetString(PyExc_ValueError, "offsets and sizes must be int64 columns of one length");
        goto done;
    }
    static const char a[] = "    {\n      \"index\": ";
    static const char b[] = ",\n      \"offset\": ";
    static const char c[] = ",\n      \"size\": ";
    static const char d[] = ",\n      \"ext\": \"\",\n      \"data_offset\": ";
    static const char e[] = ",\n      \"t\": ";
    static const char f[] = "\n    }";
    Py_ssize_t fixed = (Py_ssize_t)(sizeof a + sizeof b + sizeof c + sizeof d + sizeof e + sizeof f - 6);
    Py_ssize_t each = fixed + 4 * 20 + t.len + 2;
    if (count > 0 && each > PY_SSIZE_T_MAX / count) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count * each);
    if (result == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(result);
    const char *start = out;
    for (Py_ssize_t i = 0; i < count; i++) {
        long long offset, size;
        memcpy(&offset, (const char *)offsets.buf + 8 * i, 8);
        memcpy(&size, (const char *)sizes.buf + 8 * i, 8);
        if (offset < 0 || size < 0) {
            Py_CLEAR(result);
            PyErr_SetString(PyExc_ValueError, "a negative offset or size");
            goto done;
        }
        int hex = 0;
        for (long long v = size; v > 0; v >>= 4)
            hex++;
        if (i) {
            memcpy(out, ",\n", 2);
            out += 2;
        }
        memcpy(out, a, sizeof a - 1);
        out += sizeof a - 1;
        out += write_decimal(out, first + i);
        memcpy(out, b, sizeof b - 1);
        out += sizeof b - 1;
        out += write_decimal(out, offset);
        memcpy(out, c, sizeof c - 1);
        out += sizeof c - 1;
        out += write_decimal(out, size);
        memcpy(out, d, sizeof d - 1);
        out += sizeof d - 1;
        out += write_decimal(out, offset + hex + 2);
        memcpy(out, e, sizeof e - 1);
        out += sizeof e - 1;
        memcpy(out, t.buf, (size_t)t.len);
        out += t.len;
        memcpy(out, f, sizeof f - 1);
        out += sizeof f - 1;
    }
    if (_PyBytes_Resize(&result, out - start) < 0)
        result = NULL;
done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&sizes);
    PyBuffer_Release(&t);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_chunks", scan_chunks, METH_VARARGS, "Whole plain chunks from pos (see framing.py)."},
    {"json_escape", json_escape, METH_O, "json.dumps of data as latin-1, between the quotes."},
    {"count_byte", count_byte, METH_VARARGS, "data.count(bytes([byte]), start, end)."},
    {"count_marker", count_marker, METH_VARARGS, "data.count(marker, start, end), 2+ bytes."},
    {"chunk_records", chunk_records, METH_VARARGS, "JSON records of plain chunks (report.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups", "C versions of chunkscope's hottest loops.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_escape_width();
#ifdef EXPAND_ESCAPE
    init_expand();
#endif
    return PyModule_Create(&module_def);
}
