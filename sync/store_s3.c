/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The s3:// store: any S3-compatible service over libcurl, requests signed
 * by hand with AWS Signature Version 4 (doc/STORE.md has the details).
 * This is the only file that includes curl/curl.h.
 *
 * Invariants:
 *  1. Every request is signed over host, x-amz-content-sha256 (SHA-256 of
 *     the exact bytes sent), x-amz-date and, when sent, if-none-match, range
 *     and x-amz-security-token.  We set the Host header ourselves, so the
 *     signed value is the value sent.
 *  2. The secret key lives in secmem memory as "AWS4" || secret; derived
 *     signing keys live on the stack and are wiped after each signature.
 *  3. Every response byte is untrusted.  Bodies are bounded (MAX for get,
 *     S3_XML_MAX for listings, S3_ERR_MAX for error documents); XML is read
 *     within those bounds by the strict reader of sync/s3xml.h, by exact
 *     element paths (ListBucketResult/Contents/Key ...); listed keys are decoded, validated with
 *     store_key_valid (others are skipped as store junk) and must come in
 *     strictly increasing order.
 *  4. A request is attempted at most S3_TRIES times: only connection
 *     errors, timeouts, 5xx (not 501), 429 and S3's RequestTimeout are
 *     retried, with exponential backoff and jitter; then -EAGAIN.  Denials
 *     (403) are never retried.
 *  5. Each easy handle of the pool is used by one thread at a time and
 *     keeps its connections between requests (curl_easy_reset keeps them).
 *  6. A multipart upload sends at most s->conc parts at once (worker
 *     threads taking part numbers in order; each part a slice of the
 *     caller's buffer, never copied), retries each part on its own (4.),
 *     completes with the part list in part-number order, and on the first
 *     failure of any part stops the others (their transfers are cancelled)
 *     and aborts the upload.
 */
#include "sync/store_s3.h"
#include "sync/s3ini.h"
#include "sync/s3xml.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "crypto/secmem.h"
#include "crypto/sha256.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define S3_KEY_MAX 512               /* store keys and URL prefixes (store.h) */
#define S3_FULLKEY_MAX 1024          /* S3's own limit on object keys */
#define S3_CONC_DEFAULT 4            /* requests in flight per store (pool size) */
#define S3_CONC_MAX 16               /* SEALSYNC_S3_CONCURRENCY's upper bound */
#define S3_TRIES 5                   /* attempts per request */
#define S3_BACKOFF_MS 200            /* first backoff; doubles each time */
#define S3_BACKOFF_MAX_MS 3000       /* backoff cap */
#define S3_PART (8u << 20)           /* multipart part size (S3 minimum: 5 MiB) */
#define S3_MULTIPART_MIN (20u << 20) /* larger objects than a mount's packs go multipart */
#define S3_MAX_PARTS 10000           /* S3's limit */
#define S3_XML_MAX (8u << 20)        /* listing and multipart responses */
#define S3_ERR_MAX (64u << 10)       /* error documents (truncated beyond) */
#define S3_ETAG_MAX 130
#define S3_UPLOAD_ID_MAX 1024
#define S3_TOKEN_MAX 4096 /* continuation tokens */
#define S3_CRED_FILE_MAX (1u << 20)
#define S3_SHA_HEX (2 * SHA256_LEN + 1)

/* ---------------------------------------------------------------- strings */

/* A growing string; OOM is sticky and checked once at the end. */
struct s3_str {
        char *p;
        size_t len, cap;
        int oom;
};

static void s3_str_addn(struct s3_str *b, const char *s, size_t n)
{
        size_t cap;
        char *np;

        if (b->oom)
                return;
        if (n >= SIZE_MAX / 2 - b->len) {
                b->oom = 1;
                return;
        }
        if (b->len + n + 1 > b->cap) {
                cap = b->cap ? b->cap : 256;
                while (cap < b->len + n + 1)
                        cap *= 2;
                np = realloc(b->p, cap);
                if (np == NULL) {
                        b->oom = 1;
                        return;
                }
                b->p = np;
                b->cap = cap;
        }
        if (n > 0)
                memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void s3_str_add(struct s3_str *b, const char *s)
{
        s3_str_addn(b, s, strlen(s));
}

static void s3_str_free(struct s3_str *b)
{
        free(b->p);
        memset(b, 0, sizeof(*b));
}

static int s3_unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == '~';
}

/* SigV4 URI encoding: everything but unreserved bytes as %XX; '/' kept if KEEP_SLASH. */
static void s3_str_add_enc(struct s3_str *b, const char *s, int keep_slash)
{
        static const char hexd[] = "0123456789ABCDEF";
        char e[3];

        for (; *s != '\0'; s++) {
                unsigned char c = (unsigned char)*s;

                if (s3_unreserved(c) || (keep_slash && c == '/')) {
                        s3_str_addn(b, s, 1);
                        continue;
                }
                e[0] = '%';
                e[1] = hexd[c >> 4];
                e[2] = hexd[c & 15];
                s3_str_addn(b, e, 3);
        }
}

/* Printable copy of untrusted text for a log line (others become '?'). */
static void s3_printable(char *out, size_t cap, const char *in)
{
        size_t i;

        for (i = 0; i + 1 < cap && in[i] != '\0'; i++)
                out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
        out[i] = '\0';
}

/* ------------------------------------------------------------------- XML */

static void s3_xml_escape(struct s3_str *b, const char *s)
{
        for (; *s != '\0'; s++) {
                switch (*s) {
                case '&':
                        s3_str_add(b, "&amp;");
                        break;
                case '<':
                        s3_str_add(b, "&lt;");
                        break;
                case '>':
                        s3_str_add(b, "&gt;");
                        break;
                case '"':
                        s3_str_add(b, "&quot;");
                        break;
                default:
                        s3_str_addn(b, s, 1);
                }
        }
}

/* ----------------------------------------------------------------- store */

struct store_s3 {
        struct store base;
        pthread_mutex_t lock; /* guards busy[] */
        pthread_cond_t idle;
        CURL *pool[S3_CONC_MAX]; /* the first CONC are used; created on first use */
        int busy[S3_CONC_MAX];
        int conc;        /* SEALSYNC_S3_CONCURRENCY: pool size, parts in flight */
        char *host;      /* Host header: authority, or BUCKET.authority */
        char *url;       /* scheme://host[/bucket]: what precedes "/KEY" */
        char *uri;       /* "/bucket" (path style) or "": canonical URI before "/KEY" */
        char *cainfo;    /* AWS_CA_BUNDLE or NULL */
        char *access;    /* access key id */
        char *token;     /* session token or NULL */
        uint8_t *secret; /* secmem: "AWS4" || secret key */
        size_t secret_len;
        char bucket[64];
        char region[64];
        char prefix[S3_KEY_MAX + 2]; /* "" or "PREFIX/" */
        atomic_int no_cond_put;      /* the service answered 501 to If-None-Match */
};

static struct store_s3 *store_s3_of(struct store *s)
{
        return (struct store_s3 *)s;
}

struct s3_param {
        const char *name;
        const char *value;
};

struct s3_req {
        /* The request. */
        const char *op;     /* for log lines */
        const char *method; /* GET HEAD PUT POST DELETE */
        const char *key;    /* full object key, or NULL for the bucket */
        struct s3_param q[4];
        size_t nq;
        const uint8_t *body;
        size_t body_len;
        int if_none_match;
        int range; /* Range: bytes=range_off-(range_off+range_len-1) */
        uint64_t range_off;
        size_t range_len;
        const char *content_type;
        int error_in_200;         /* a 200 may carry <Error> (CompleteMultipartUpload) */
        atomic_int *cancel;       /* or NULL: non-zero stops the request (-ECANCELED) */
        char payload[S3_SHA_HEX]; /* hex SHA-256 of the body: once, for every attempt */
        const uint8_t *body_sha;  /* or NULL: the body's SHA-256, computed by the caller */
        store_source_fn source;   /* or NULL: a streamed body (D9; BODY is NULL, BODY_SHA set) */
        void *source_arg;
        int source_err; /* the source's error: the transfer was stopped, never retried */
        /* Where a 2xx body goes: DST (exactly range_len bytes) or resp (<= max). */
        uint8_t *dst;
        size_t max;
        /* The response of the last attempt. */
        CURL *curl;
        long status;
        struct s3_str resp;
        size_t sent, got;
        uint64_t skip; /* bytes to drop before dst (a 200 to a range request) */
        int skip_set;
        curl_off_t clen; /* Content-Length (HEAD) or -1 */
        int too_big;     /* 2xx body beyond max */
        int bad_body;    /* a ranged body that does not fit the request */
        int range_done;  /* dst is full: the rest of a 200 is not needed */
        int have_crange; /* Content-Range seen */
        uint64_t crange_start, crange_end;
        char etag[S3_ETAG_MAX];
        /* Across attempts: an earlier attempt may have taken effect. */
        int ambiguous;
        char last_err[320];
        long os_errno;   /* the system error behind a transport failure, or 0 */
        int unreachable; /* the last attempt failed in transport (last_err names the URL) */
};

static void s3_req_init(struct s3_req *r, const char *op, const char *method, const char *key)
{
        memset(r, 0, sizeof(*r));
        r->op = op;
        r->method = method;
        r->key = key;
}

static void s3_req_param(struct s3_req *r, const char *name, const char *value)
{
        if (r->nq < sizeof(r->q) / sizeof(r->q[0])) {
                r->q[r->nq].name = name;
                r->q[r->nq].value = value;
                r->nq++;
        }
}

/* ------------------------------------------------------------- curl I/O */

static size_t s3_write_cb(char *p, size_t size, size_t n, void *arg)
{
        struct s3_req *r = arg;
        size_t len = size * n, take;
        curl_off_t clen = -1;
        long st = 0;

        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &st);
        if (st < 200 || st >= 300) {
                /* An error document: keep the first S3_ERR_MAX bytes. */
                take = r->resp.len < S3_ERR_MAX ? S3_ERR_MAX - r->resp.len : 0;
                s3_str_addn(&r->resp, p, len < take ? len : take);
                return r->resp.oom ? 0 : len;
        }
        if (r->dst != NULL) {
                if (st == 200 && !r->skip_set) {
                        r->skip = r->range_off; /* the server ignored Range */
                        r->skip_set = 1;
                }
                if (r->skip > 0) {
                        take = r->skip < len ? (size_t)r->skip : len;
                        r->skip -= take;
                        p += take;
                        len -= take;
                        if (len == 0)
                                return size * n;
                }
                take = r->range_len - r->got < len ? r->range_len - r->got : len;
                memcpy(r->dst + r->got, p, take);
                r->got += take;
                if (take < len) {
                        if (st == 200) {
                                r->range_done = 1; /* we have what we asked for */
                                return 0;
                        }
                        r->bad_body = 1; /* a 206 longer than the range */
                        return 0;
                }
                return size * n;
        }
        if (r->resp.len == 0 &&
            curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen) == CURLE_OK &&
            clen > 0) {
                if ((uint64_t)clen > r->max) {
                        r->too_big = 1;
                        return 0;
                }
                s3_str_addn(&r->resp, "", 0);
                if (!r->resp.oom && r->resp.cap < (size_t)clen + 1) {
                        char *np = realloc(r->resp.p, (size_t)clen + 1);

                        if (np != NULL) {
                                r->resp.p = np;
                                r->resp.cap = (size_t)clen + 1;
                        }
                }
        }
        if (len > r->max - r->resp.len) {
                r->too_big = 1;
                return 0;
        }
        s3_str_addn(&r->resp, p, len);
        return r->resp.oom ? 0 : len;
}

static int s3_hdr_is(const char *line, size_t len, const char *name, const char **val, size_t *vlen)
{
        size_t n = strlen(name);

        if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
                return 0;
        line += n + 1;
        len -= n + 1;
        while (len > 0 && (*line == ' ' || *line == '\t')) {
                line++;
                len--;
        }
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
                len--;
        *val = line;
        *vlen = len;
        return 1;
}

/* "bytes A-B/TOTAL" (TOTAL may be '*'). */
static int s3_parse_crange(const char *v, size_t n, uint64_t *a, uint64_t *b)
{
        const char *dash, *slash;

        if (n < 6 || strncmp(v, "bytes ", 6) != 0)
                return -1;
        v += 6;
        n -= 6;
        dash = memchr(v, '-', n);
        slash = memchr(v, '/', n);
        if (dash == NULL || slash == NULL || slash < dash)
                return -1;
        if (s3_parse_u64(v, (size_t)(dash - v), a) != 0 ||
            s3_parse_u64(dash + 1, (size_t)(slash - dash - 1), b) != 0 || *b < *a)
                return -1;
        return 0;
}

static size_t s3_header_cb(char *p, size_t size, size_t n, void *arg)
{
        struct s3_req *r = arg;
        size_t len = size * n, vlen, i;
        const char *v;

        if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
                /* A new response (after 100 Continue): forget the previous one's headers. */
                r->etag[0] = '\0';
                r->have_crange = 0;
        } else if (s3_hdr_is(p, len, "etag", &v, &vlen)) {
                if (vlen > 0 && vlen < sizeof(r->etag)) {
                        for (i = 0; i < vlen; i++)
                                if (v[i] < 0x21 || v[i] > 0x7e)
                                        break;
                        if (i == vlen) {
                                memcpy(r->etag, v, vlen);
                                r->etag[vlen] = '\0';
                        }
                }
        } else if (s3_hdr_is(p, len, "content-range", &v, &vlen)) {
                r->have_crange = s3_parse_crange(v, vlen, &r->crange_start, &r->crange_end) == 0;
        }
        return len;
}

static size_t s3_read_cb(char *buf, size_t size, size_t n, void *arg)
{
        struct s3_req *r = arg;
        size_t want = size * n, left = r->body_len - r->sent;

        if (want > left)
                want = left;
        if (want > 0 && r->source != NULL) {
                int rc = r->source(r->source_arg, r->sent, (uint8_t *)buf, want);

                if (rc != 0) { /* short of Content-Length: nothing is stored (D9) */
                        r->source_err = rc;
                        return CURL_READFUNC_ABORT;
                }
        } else if (want > 0) {
                memcpy(buf, r->body + r->sent, want);
        }
        r->sent += want;
        return want;
}

/* libcurl rewinds the body when it resends on a fresh connection. */
static int s3_seek_cb(void *arg, curl_off_t off, int origin)
{
        struct s3_req *r = arg;

        if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
                return CURL_SEEKFUNC_FAIL;
        r->sent = (size_t)off;
        return CURL_SEEKFUNC_OK;
}

/* A sibling request failed (invariant 6): stop this transfer now. */
static int s3_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
        const struct s3_req *r = arg;

        (void)dltotal;
        (void)dlnow;
        (void)ultotal;
        (void)ulnow;
        return atomic_load(r->cancel) != 0;
}

static int s3_cancelled(const struct s3_req *r)
{
        return r->cancel != NULL && atomic_load(r->cancel) != 0;
}

/* ----------------------------------------------------------------- SigV4 */

/* The path part of the URL and of the canonical request: URI-encoded, '/' kept. */
static void s3_path(struct store_s3 *s, const struct s3_req *r, struct s3_str *b)
{
        s3_str_add(b, s->uri);
        if (r->key != NULL) {
                s3_str_add(b, "/");
                s3_str_add_enc(b, r->key, 1);
        } else if (s->uri[0] == '\0') {
                s3_str_add(b, "/");
        }
}

static int s3_param_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canonical query string: NAME=VALUE pairs, both encoded, sorted. */
static int s3_query(const struct s3_req *r, struct s3_str *b)
{
        struct s3_str e[4];
        char *v[4] = {NULL};
        size_t i;
        int rc = 0;

        memset(e, 0, sizeof(e));
        for (i = 0; i < r->nq; i++) {
                s3_str_add_enc(&e[i], r->q[i].name, 0);
                s3_str_add(&e[i], "=");
                s3_str_add_enc(&e[i], r->q[i].value, 0);
                if (e[i].oom)
                        rc = -ENOMEM;
                v[i] = e[i].p;
        }
        if (rc == 0) {
                qsort(v, r->nq, sizeof(v[0]), s3_param_cmp);
                for (i = 0; i < r->nq; i++) {
                        if (i > 0)
                                s3_str_add(b, "&");
                        s3_str_add(b, v[i]);
                }
        }
        for (i = 0; i < r->nq; i++)
                s3_str_free(&e[i]);
        return rc;
}

static void s3_hmac_str(uint8_t out[SHA256_LEN], const uint8_t *key, size_t keylen, const char *msg)
{
        hmac_sha256(out, key, keylen, msg, strlen(msg));
}

/* The end of s3_hdr's argument list (a bare NULL may be an int in varargs). */
#define S3_END ((const char *)NULL)

/* Appends the concatenation of the strings up to S3_END as one header to *L. */
static int s3_hdr(struct curl_slist **l, ...)
{
        struct s3_str h = {0};
        struct curl_slist *nl = NULL;
        const char *part;
        va_list ap;

        va_start(ap, l);
        while ((part = va_arg(ap, const char *)) != NULL)
                s3_str_add(&h, part);
        va_end(ap);
        if (!h.oom && h.p != NULL)
                nl = curl_slist_append(*l, h.p);
        s3_str_free(&h);
        if (nl == NULL)
                return -ENOMEM;
        *l = nl;
        return 0;
}

/*
 * Signs R for the request line METHOD PATH?QUERY and appends the headers
 * to *HDRS.  Returns 0 or -ENOMEM.
 */
static int s3_sign(struct store_s3 *s, const struct s3_req *r, const char *path, const char *query,
                   struct curl_slist **hdrs)
{
        char amzdate[17], date[9], crhex[S3_SHA_HEX], sig[S3_SHA_HEX];
        const char *payload = r->payload;
        char range[64] = "";
        uint8_t h[SHA256_LEN], k1[SHA256_LEN], k2[SHA256_LEN];
        struct s3_str cr = {0}, sts = {0}, signed_hdrs = {0};
        struct curl_slist *l = *hdrs;
        struct tm tm;
        time_t now = time(NULL);
        int rc = -ENOMEM;

        gmtime_r(&now, &tm);
        strftime(amzdate, sizeof(amzdate), "%Y%m%dT%H%M%SZ", &tm);
        memcpy(date, amzdate, 8);
        date[8] = '\0';
        if (r->range)
                snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)r->range_off,
                         (unsigned long long)(r->range_off + r->range_len - 1));

        /* Canonical headers, in byte order of their names. */
        s3_str_add(&cr, r->method);
        s3_str_add(&cr, "\n");
        s3_str_add(&cr, path);
        s3_str_add(&cr, "\n");
        s3_str_add(&cr, query);
        s3_str_add(&cr, "\nhost:");
        s3_str_add(&cr, s->host);
        s3_str_add(&signed_hdrs, "host");
        if (r->if_none_match) {
                s3_str_add(&cr, "\nif-none-match:*");
                s3_str_add(&signed_hdrs, ";if-none-match");
        }
        if (r->range) {
                s3_str_add(&cr, "\nrange:");
                s3_str_add(&cr, range);
                s3_str_add(&signed_hdrs, ";range");
        }
        s3_str_add(&cr, "\nx-amz-content-sha256:");
        s3_str_add(&cr, payload);
        s3_str_add(&cr, "\nx-amz-date:");
        s3_str_add(&cr, amzdate);
        s3_str_add(&signed_hdrs, ";x-amz-content-sha256;x-amz-date");
        if (s->token != NULL) {
                s3_str_add(&cr, "\nx-amz-security-token:");
                s3_str_add(&cr, s->token);
                s3_str_add(&signed_hdrs, ";x-amz-security-token");
        }
        s3_str_add(&cr, "\n\n");
        s3_str_add(&cr, signed_hdrs.p != NULL ? signed_hdrs.p : "");
        s3_str_add(&cr, "\n");
        s3_str_add(&cr, payload);
        if (cr.oom || signed_hdrs.oom)
                goto out;
        sha256_hash(h, cr.p, cr.len);
        hex_encode(crhex, h, sizeof(h));

        s3_str_add(&sts, "AWS4-HMAC-SHA256\n");
        s3_str_add(&sts, amzdate);
        s3_str_add(&sts, "\n");
        s3_str_add(&sts, date);
        s3_str_add(&sts, "/");
        s3_str_add(&sts, s->region);
        s3_str_add(&sts, "/s3/aws4_request\n");
        s3_str_add(&sts, crhex);
        if (sts.oom)
                goto out;

        /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" || secret, date), region), "s3"), "aws4_request")
         */
        s3_hmac_str(k1, s->secret, s->secret_len, date);
        s3_hmac_str(k2, k1, sizeof(k1), s->region);
        s3_hmac_str(k1, k2, sizeof(k2), "s3");
        s3_hmac_str(k2, k1, sizeof(k1), "aws4_request");
        hmac_sha256(h, k2, sizeof(k2), sts.p, sts.len);
        hex_encode(sig, h, sizeof(h));

        if (s3_hdr(&l, "Host: ", s->host, S3_END) != 0 ||
            s3_hdr(&l, "x-amz-date: ", amzdate, S3_END) != 0 ||
            s3_hdr(&l, "x-amz-content-sha256: ", payload, S3_END) != 0 ||
            (s->token != NULL && s3_hdr(&l, "x-amz-security-token: ", s->token, S3_END) != 0) ||
            (r->if_none_match && s3_hdr(&l, "If-None-Match: *", S3_END) != 0) ||
            (r->range && s3_hdr(&l, "Range: ", range, S3_END) != 0) ||
            (r->content_type != NULL &&
             s3_hdr(&l, "Content-Type: ", r->content_type, S3_END) != 0) ||
            s3_hdr(&l, "Authorization: AWS4-HMAC-SHA256 Credential=", s->access, "/", date, "/",
                   s->region, "/s3/aws4_request, SignedHeaders=", signed_hdrs.p,
                   ", Signature=", sig, S3_END) != 0)
                goto out;
        rc = 0;
out:
        secmem_wipe(k1, sizeof(k1));
        secmem_wipe(k2, sizeof(k2));
        secmem_wipe(h, sizeof(h));
        s3_str_free(&cr);
        s3_str_free(&sts);
        s3_str_free(&signed_hdrs);
        *hdrs = l;
        return rc;
}

/* ------------------------------------------------------------- requests */

static CURL *s3_handle_get(struct store_s3 *s, int *slot)
{
        CURL *c = NULL;
        int i;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                for (i = 0; i < s->conc; i++)
                        if (!s->busy[i])
                                break;
                if (i < s->conc)
                        break;
                pthread_cond_wait(&s->idle, &s->lock);
        }
        if (s->pool[i] == NULL)
                s->pool[i] = curl_easy_init();
        if (s->pool[i] != NULL) {
                s->busy[i] = 1;
                c = s->pool[i];
                *slot = i;
        }
        pthread_mutex_unlock(&s->lock);
        return c;
}

static void s3_handle_put(struct store_s3 *s, int slot)
{
        pthread_mutex_lock(&s->lock);
        s->busy[slot] = 0;
        pthread_cond_signal(&s->idle);
        pthread_mutex_unlock(&s->lock);
}

static void s3_reset_response(struct s3_req *r)
{
        s3_str_free(&r->resp);
        r->status = 0;
        r->sent = r->got = 0;
        r->skip = 0;
        r->skip_set = 0;
        r->clen = -1;
        r->too_big = r->bad_body = r->range_done = r->have_crange = 0;
        r->etag[0] = '\0';
}

/* One attempt: sets up handle C for R, performs it.  Returns the curl code or -errno. */
static int s3_attempt(struct store_s3 *s, struct s3_req *r, CURL *c)
{
        struct s3_str path = {0}, query = {0}, url = {0};
        struct curl_slist *hdrs = NULL;
        int rc;

        s3_reset_response(r);
        r->curl = c;
        s3_path(s, r, &path);
        rc = s3_query(r, &query);
        if (rc == 0 && (path.oom || query.oom))
                rc = -ENOMEM;
        if (rc == 0) {
                s3_str_add(&url, s->url);
                s3_str_add(&url, path.p + strlen(s->uri));
                if (query.len > 0) {
                        s3_str_add(&url, "?");
                        s3_str_add(&url, query.p);
                }
                rc = url.oom ? -ENOMEM : 0;
        }
        if (rc == 0)
                rc = s3_sign(s, r, path.p, query.p != NULL ? query.p : "", &hdrs);
        if (rc != 0)
                goto out;

        curl_easy_reset(c); /* keeps the connection cache */
        curl_easy_setopt(c, CURLOPT_URL, url.p);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s3_header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        if (s->cainfo != NULL)
                curl_easy_setopt(c, CURLOPT_CAINFO, s->cainfo);
        if (r->cancel != NULL) {
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s3_progress_cb);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        }
        if (strcmp(r->method, "HEAD") == 0) {
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (strcmp(r->method, "PUT") == 0) {
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, s3_read_cb);
                curl_easy_setopt(c, CURLOPT_READDATA, r);
                curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, s3_seek_cb);
                curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
                curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        } else if (strcmp(r->method, "POST") == 0) {
                curl_easy_setopt(c, CURLOPT_POST, 1L);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                                 r->body != NULL ? (const char *)r->body : "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        } else if (strcmp(r->method, "DELETE") == 0) {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        }
        r->os_errno = 0;
        rc = (int)curl_easy_perform(c);
        if (curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &r->os_errno) != CURLE_OK)
                r->os_errno = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->clen) != CURLE_OK)
                r->clen = -1;
        r->curl = NULL; /* back to the pool after this */
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
out:
        curl_slist_free_all(hdrs); /* holds the Authorization header: not secret, but short-lived */
        s3_str_free(&path);
        s3_str_free(&query);
        s3_str_free(&url);
        return rc;
}

static int s3_curl_retryable(CURLcode cc)
{
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
                return 1;
        default:
                return 0;
        }
}

/* Code and Message of an S3 error document in R's response (or "" each). */
static void s3_error_doc(const struct s3_req *r, char code[64], char msg[200])
{
        char tmp[400];
        const char *p = r->resp.p;

        code[0] = msg[0] = '\0';
        if (p == NULL)
                return;
        if (s3xml_get(p, r->resp.len, "Error/Code", tmp, sizeof(tmp)) == 0)
                s3_printable(code, 64, tmp);
        if (s3xml_get(p, r->resp.len, "Error/Message", tmp, sizeof(tmp)) == 0)
                s3_printable(msg, 200, tmp);
}

/*
 * Whether a 2xx reply that may carry an error (CompleteMultipartUpload) does:
 * an Error document, or a body the strict XML reader refuses.
 */
static int s3_error_in_200(const struct s3_req *r)
{
        char code[64];

        if (r->resp.p == NULL)
                return 0;
        return s3xml_get(r->resp.p, r->resp.len, "Error/Code", code, sizeof(code)) != -ENOENT;
}

static const char *s3_what(const struct s3_req *r)
{
        return r->key != NULL ? r->key : "(bucket)";
}

/*
 * Maps an attempt's outcome to 0 or a negative errno; *RETRY says whether
 * another attempt may help (and last_err says why, for the final message).
 * Logs non-retryable failures once.
 */
static int s3_classify(struct store_s3 *s, struct s3_req *r, int cc, int *retry)
{
        char code[64], msg[200];
        long st = r->status;

        *retry = 0;
        if (cc < 0)
                return cc;
        if (cc == CURLE_ABORTED_BY_CALLBACK && s3_cancelled(r))
                return -ECANCELED; /* not this request's failure: not logged */
        if (cc != CURLE_OK) {
                if (r->too_big)
                        return -EFBIG;
                if (r->range_done)
                        return 0;
                if (r->bad_body) {
                        log_err("S3 bucket '%s': %s %s: the server sent more than the range asked",
                                s->bucket, r->op, s3_what(r));
                        return -EIO;
                }
                if (cc == CURLE_OUT_OF_MEMORY || (r->resp.oom && cc == CURLE_WRITE_ERROR))
                        return -ENOMEM;
                /* Name the host (and bucket) that failed, e.g. "cannot reach
                 * http://127.0.0.1:9/bucket: Connection refused". */
                snprintf(r->last_err, sizeof(r->last_err), "cannot reach %s: %s", s->url,
                         r->os_errno > 0 ? strerror((int)r->os_errno)
                                         : curl_easy_strerror((CURLcode)cc));
                r->unreachable = 1;
                if (s3_curl_retryable((CURLcode)cc)) {
                        *retry = 1;
                        if (cc != CURLE_COULDNT_CONNECT && cc != CURLE_COULDNT_RESOLVE_HOST)
                                r->ambiguous = 1;
                        return -EAGAIN;
                }
                log_err("s3: %s (%s %s)", r->last_err, r->op, s3_what(r));
                return -EIO;
        }
        r->unreachable = 0;
        if (st >= 200 && st < 300) {
                if (r->error_in_200 && s3_error_in_200(r)) {
                        s3_error_doc(r, code, msg);
                        if (code[0] == '\0')
                                snprintf(code, 64, "%s", "(malformed reply)");
                        snprintf(r->last_err, sizeof(r->last_err), "HTTP %ld with error %s: %s", st,
                                 code, msg);
                        *retry = strcmp(code, "InternalError") == 0 ||
                                 strcmp(code, "SlowDown") == 0 ||
                                 strcmp(code, "ServiceUnavailable") == 0;
                        if (*retry)
                                return -EAGAIN;
                        log_err("S3 bucket '%s': %s %s: %s", s->bucket, r->op, s3_what(r),
                                r->last_err);
                        return -EIO;
                }
                return 0;
        }
        s3_error_doc(r, code, msg);
        snprintf(r->last_err, sizeof(r->last_err), "HTTP %ld %s%s%s", st, code, msg[0] ? ": " : "",
                 msg);
        if (st == 404) {
                if (strcmp(code, "NoSuchBucket") == 0)
                        log_err("S3 bucket '%s' does not exist (NoSuchBucket%s%s)", s->bucket,
                                msg[0] ? ": " : "", msg);
                return -ENOENT;
        }
        if (st == 412 && r->if_none_match)
                return -EEXIST;
        if (st == 416)
                return -EIO; /* the object is shorter than the range */
        if (st == 403 ||
            (st == 400 && (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
                           strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
                           strcmp(code, "InvalidAccessKeyId") == 0))) {
                log_err("S3 bucket '%s': access denied (%s%s%s) on %s; check AWS_ACCESS_KEY_ID, "
                        "AWS_SECRET_ACCESS_KEY, AWS_REGION and the bucket's policy",
                        s->bucket, code[0] ? code : "HTTP 403", msg[0] ? ": " : "", msg, r->op);
                return -EACCES;
        }
        if (st == 429 || (st >= 500 && st != 501) ||
            (st == 400 && strcmp(code, "RequestTimeout") == 0) || (st == 409 && r->if_none_match)) {
                /* 409 to a conditional write: a concurrent one is in progress (AWS). */
                *retry = 1;
                r->ambiguous = 1;
                return -EAGAIN;
        }
        if (st == 501 && r->if_none_match)
                return -ENOTSUP; /* the caller falls back to check-then-put */
        if (st == 501) {
                log_err("S3 bucket '%s': %s %s: the service does not implement it (%s)", s->bucket,
                        r->op, s3_what(r), r->last_err);
                return -ENOTSUP;
        }
        if (st == 301 || st == 307)
                log_err("S3 bucket '%s': %s: redirected (%s): wrong AWS_REGION or endpoint?",
                        s->bucket, r->op, r->last_err);
        else
                log_err("S3 bucket '%s': %s %s: %s", s->bucket, r->op, s3_what(r), r->last_err);
        return -EIO;
}

static void s3_backoff(int attempt)
{
        unsigned long ms = S3_BACKOFF_MS, jitter;
        struct timespec ts;
        uint32_t rnd;
        int i;

        for (i = 0; i < attempt && ms < S3_BACKOFF_MAX_MS; i++)
                ms *= 2;
        if (ms > S3_BACKOFF_MAX_MS)
                ms = S3_BACKOFF_MAX_MS;
        secmem_random(&rnd, sizeof(rnd));
        jitter = rnd % (ms / 2 + 1); /* "equal jitter": ms/2 .. ms */
        ms = ms / 2 + jitter;
        ts.tv_sec = (time_t)(ms / 1000);
        ts.tv_nsec = (long)(ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

/*
 * Performs R with retries.  Returns 0 (2xx; the body in r->resp or r->dst)
 * or a negative errno: -ENOENT (404), -EEXIST (412 to If-None-Match),
 * -EACCES, -EFBIG (body over r->max), -EIO, -ENOTSUP, -ENOMEM, -EAGAIN
 * (retryable failures, S3_TRIES times), -ECANCELED (*r->cancel was set:
 * before an attempt, or during one, which is then cut short).
 */
static int s3_perform(struct store_s3 *s, struct s3_req *r)
{
        int attempt, slot = 0, rc, retry = 0, cc;
        uint8_t h[SHA256_LEN];
        CURL *c;

        if (r->body_sha != NULL)
                memcpy(h, r->body_sha, sizeof(h));
        else /* 8 MiB parts: ~50 ms, not redone per retry */
                sha256_hash(h, r->body, r->body_len);
        hex_encode(r->payload, h, sizeof(h));
        for (attempt = 0; attempt < S3_TRIES; attempt++) {
                if (attempt > 0)
                        s3_backoff(attempt - 1);
                if (s3_cancelled(r))
                        return -ECANCELED;
                c = s3_handle_get(s, &slot);
                if (c == NULL)
                        return -ENOMEM;
                cc = s3_attempt(s, r, c);
                rc = s3_classify(s, r, cc, &retry);
                s3_handle_put(s, slot);
                if (r->source_err != 0)
                        return r->source_err; /* the body's own failure: no retry */
                if (!retry)
                        return rc;
                log_debug("S3 bucket '%s': %s %s: attempt %d: %s", s->bucket, r->op, s3_what(r),
                          attempt + 1, r->last_err);
        }
        if (r->unreachable)
                log_err("s3: %s (%s %s: giving up after %d attempts)", r->last_err, r->op,
                        s3_what(r), S3_TRIES);
        else
                log_err("S3 bucket '%s' at %s: %s %s: giving up after %d attempts: %s", s->bucket,
                        s->url, r->op, s3_what(r), S3_TRIES, r->last_err);
        return -EAGAIN;
}

/* ------------------------------------------------------------- store ops */

/* FULL = prefix || KEY, KEY validated. */
static int s3_fullkey(struct store_s3 *s, const char *key, char full[S3_FULLKEY_MAX + 1])
{
        if (key == NULL || !store_key_valid(key))
                return -EINVAL;
        snprintf(full, S3_FULLKEY_MAX + 1, "%s%s", s->prefix, key); /* fits: 2 * 512 + 1 */
        return 0;
}

/* HEAD FULL: 0 and the size, or -ENOENT, ... */
static int s3_head(struct store_s3 *s, const char *op, const char *full, uint64_t *size)
{
        struct s3_req r;
        int rc;

        s3_req_init(&r, op, "HEAD", full);
        rc = s3_perform(s, &r);
        if (rc == 0 && size != NULL) {
                if (r.clen < 0)
                        rc = -EIO;
                else
                        *size = (uint64_t)r.clen;
        }
        s3_str_free(&r.resp);
        return rc;
}

/* After an ambiguous if_absent put: is the object there exactly BUF? */
static int s3_same_object(struct store_s3 *s, const char *full, const void *buf, size_t len)
{
        struct s3_req r;
        int rc;

        s3_req_init(&r, "put (check)", "GET", full);
        r.max = len;
        rc = s3_perform(s, &r);
        if (rc == 0)
                rc = r.resp.len == len && (len == 0 || memcmp(r.resp.p, buf, len) == 0) ? 0
                                                                                        : -EEXIST;
        else if (rc == -EFBIG || rc == -ENOENT)
                rc = -EEXIST;
        s3_str_free(&r.resp);
        return rc;
}

static void s3_abort_upload(struct store_s3 *s, const char *full, const char *upload_id)
{
        struct s3_req r;
        int rc;

        s3_req_init(&r, "multipart abort", "DELETE", full);
        s3_req_param(&r, "uploadId", upload_id);
        r.max = S3_ERR_MAX;
        rc = s3_perform(s, &r);
        if (rc != 0 && rc != -ENOENT)
                log_warn("S3 bucket '%s': could not abort the multipart upload of %s (%d); "
                         "a lifecycle rule for incomplete uploads will remove its parts",
                         s->bucket, full, rc);
        s3_str_free(&r.resp);
}

/* Remembers (and says once) that the service rejects conditional PUTs. */
static void s3_no_cond_put(struct store_s3 *s)
{
        if (atomic_exchange(&s->no_cond_put, 1) == 0)
                log_warn("S3 bucket '%s': the service does not support conditional PUTs "
                         "(If-None-Match: *); put-if-absent falls back to check-then-put",
                         s->bucket);
}

/*
 * One multipart upload in progress (invariant 6).  The workers share NEXT
 * (the next part to send) and RC (the first failure) under LOCK; a part's
 * ETag is written only by the worker that sent it, and read after the join.
 */
struct s3_mp {
        struct store_s3 *s;
        const char *full;
        const uint8_t *buf;
        size_t len, part, nparts;
        char upload_id[S3_UPLOAD_ID_MAX];
        char (*etags)[S3_ETAG_MAX];
        pthread_mutex_t lock;
        size_t next;
        int rc;
        size_t failed;     /* the part that failed first (0-based), with RC */
        char why[320];     /* and why (its last_err: an S3 code or a curl error) */
        atomic_int cancel; /* set with RC: in-flight parts stop */
};

/* POST ?uploads: m->upload_id.  Returns 0 or a negative errno. */
static int s3_mp_create(struct s3_mp *m)
{
        struct s3_req r;
        int rc;

        s3_req_init(&r, "multipart create", "POST", m->full);
        s3_req_param(&r, "uploads", "");
        r.max = S3_XML_MAX;
        rc = s3_perform(m->s, &r);
        if (rc == 0 && (r.resp.p == NULL ||
                        s3xml_get(r.resp.p, r.resp.len, "InitiateMultipartUploadResult/UploadId",
                                  m->upload_id, sizeof(m->upload_id)) != 0 ||
                        m->upload_id[0] == '\0')) {
                log_err("S3 bucket '%s': multipart create of %s: no UploadId in the response",
                        m->s->bucket, m->full);
                rc = -EIO;
        }
        s3_str_free(&r.resp);
        return rc;
}

/* Records the first failure (RC, of part I, for reason WHY) and stops the other parts. */
static void s3_mp_fail(struct s3_mp *m, size_t i, int rc, const char *why)
{
        pthread_mutex_lock(&m->lock);
        if (m->rc == 0) {
                m->rc = rc;
                m->failed = i;
                snprintf(m->why, sizeof(m->why), "%s", why);
                atomic_store(&m->cancel, 1);
        }
        pthread_mutex_unlock(&m->lock);
}

/* PUT part I (0-based; part number I + 1), with retries; its ETag into m->etags[I]. */
static int s3_mp_part(struct s3_mp *m, size_t i)
{
        char num[24];
        size_t off = i * m->part;
        struct s3_req r;
        int rc;

        snprintf(num, sizeof(num), "%zu", i + 1);
        s3_req_init(&r, "multipart part", "PUT", m->full);
        s3_req_param(&r, "partNumber", num);
        s3_req_param(&r, "uploadId", m->upload_id);
        r.body = m->buf + off;
        r.body_len = m->len - off < m->part ? m->len - off : m->part;
        r.max = S3_ERR_MAX;
        r.cancel = &m->cancel;
        rc = s3_perform(m->s, &r);
        if (rc == 0 && r.etag[0] == '\0') {
                log_err("S3 bucket '%s': multipart part %zu of %s: no ETag in the response",
                        m->s->bucket, i + 1, m->full);
                rc = -EIO;
        }
        if (rc == 0)
                memcpy(m->etags[i], r.etag, sizeof(r.etag));
        else if (rc != -ECANCELED)
                s3_mp_fail(m, i, rc, r.last_err[0] ? r.last_err : strerror(-rc));
        s3_str_free(&r.resp);
        return rc;
}

/* A worker: sends parts in order until none is left or one has failed. */
static void *s3_mp_worker(void *arg)
{
        struct s3_mp *m = arg;
        size_t i;

        for (;;) {
                pthread_mutex_lock(&m->lock);
                if (m->rc != 0 || m->next == m->nparts) {
                        pthread_mutex_unlock(&m->lock);
                        return NULL;
                }
                i = m->next++;
                pthread_mutex_unlock(&m->lock);
                /* A failure is recorded by s3_mp_part; -ECANCELED follows one. */
                (void)s3_mp_part(m, i);
        }
}

/*
 * Sends every part, up to s->conc at once: the calling thread is one worker
 * and starts the others (fewer if threads cannot be created).  Returns 0 or
 * the first part's failure, then logged again from the calling thread: the
 * part's own line may have come from a worker, and callers take the reason
 * for their status from their own thread's last error line (util/log.h).
 */
static int s3_mp_parts(struct s3_mp *m)
{
        pthread_t th[S3_CONC_MAX];
        size_t want = (size_t)m->s->conc < m->nparts ? (size_t)m->s->conc : m->nparts;
        size_t n = 0, i;

        while (n + 1 < want && pthread_create(&th[n], NULL, s3_mp_worker, m) == 0)
                n++;
        s3_mp_worker(m);
        for (i = 0; i < n; i++)
                pthread_join(th[i], NULL);
        if (m->rc != 0)
                log_err("S3 bucket '%s': multipart upload of %s: part %zu failed (%s); aborting "
                        "the upload",
                        m->s->bucket, m->full, m->failed + 1, m->why);
        return m->rc;
}

/* POST ?uploadId=U with the part list in order.  Returns 0 or a negative errno. */
static int s3_mp_complete(struct s3_mp *m, int if_absent)
{
        struct store_s3 *s = m->s;
        struct s3_str xml = {0};
        struct s3_req r;
        char num[24];
        size_t i;
        int rc;

        s3_str_add(&xml, "<CompleteMultipartUpload>");
        for (i = 0; i < m->nparts; i++) {
                snprintf(num, sizeof(num), "%zu", i + 1);
                s3_str_add(&xml, "<Part><PartNumber>");
                s3_str_add(&xml, num);
                s3_str_add(&xml, "</PartNumber><ETag>");
                s3_xml_escape(&xml, m->etags[i]);
                s3_str_add(&xml, "</ETag></Part>");
        }
        s3_str_add(&xml, "</CompleteMultipartUpload>");
        if (xml.oom) {
                s3_str_free(&xml);
                return -ENOMEM;
        }
        s3_req_init(&r, "multipart complete", "POST", m->full);
        s3_req_param(&r, "uploadId", m->upload_id);
        r.body = (const uint8_t *)xml.p;
        r.body_len = xml.len;
        r.content_type = "application/xml";
        r.if_none_match = if_absent && !atomic_load(&s->no_cond_put);
        r.error_in_200 = 1;
        r.max = S3_XML_MAX;
        rc = s3_perform(s, &r);
        if (rc == -ENOTSUP && r.if_none_match) {
                /* Checked before the upload began: complete without the condition. */
                s3_no_cond_put(s);
                r.if_none_match = 0;
                rc = s3_perform(s, &r);
        }
        if (rc == -EEXIST && r.ambiguous)
                rc = s3_same_object(s, m->full, m->buf, m->len);
        s3_str_free(&r.resp);
        s3_str_free(&xml);
        return rc;
}

static int s3_put_multipart(struct store_s3 *s, const char *full, const uint8_t *buf, size_t len,
                            int if_absent)
{
        struct s3_mp m = {.s = s, .full = full, .buf = buf, .len = len, .part = S3_PART};
        int rc;

        if (len / m.part >= S3_MAX_PARTS)
                m.part = len / (S3_MAX_PARTS - 1);
        m.nparts = (len + m.part - 1) / m.part;
        if (if_absent == STORE_PUT_NAMED) {
                /* Overwriting a content-named object is harmless: no HEAD; the
                 * condition on the completion where the service takes it. */
                if_absent = !atomic_load(&s->no_cond_put);
        } else if (if_absent) {
                /* Not every service honours If-None-Match on completion: ask first. */
                rc = s3_head(s, "put", full, NULL);
                if (rc == 0)
                        return -EEXIST;
                if (rc != -ENOENT)
                        return rc;
        }
        m.etags = calloc(m.nparts, sizeof(*m.etags));
        if (m.etags == NULL)
                return -ENOMEM;
        rc = s3_mp_create(&m);
        if (rc != 0)
                goto out_free;
        atomic_init(&m.cancel, 0);
        rc = pthread_mutex_init(&m.lock, NULL) == 0 ? 0 : -ENOMEM;
        if (rc == 0) {
                rc = s3_mp_parts(&m);
                pthread_mutex_destroy(&m.lock);
        }
        if (rc == 0)
                rc = s3_mp_complete(&m, if_absent);
        if (rc != 0)
                s3_abort_upload(s, full, m.upload_id);
out_free:
        free(m.etags);
        return rc;
}

/*
 * s3_put, where SHA (or NULL) is the body's SHA-256, computed by the caller;
 * the body is BUF (LEN bytes) or, with SRC, LEN bytes read from SRC (D9: a
 * single PUT; SHA required).
 */
static int s3_put_body(struct store *st, const char *key, const void *buf, size_t len,
                       store_source_fn src, void *arg, int if_absent, const uint8_t *sha)
{
        struct store_s3 *s = store_s3_of(st);
        char full[S3_FULLKEY_MAX + 1];
        struct s3_req r;
        int rc;

        rc = s3_fullkey(s, key, full);
        if (rc != 0)
                return rc;
        if ((len > 0 && buf == NULL && src == NULL) || (src != NULL && sha == NULL))
                return -EINVAL;
        if (src == NULL && len >= S3_MULTIPART_MIN)
                return s3_put_multipart(s, full, buf, len, if_absent);
        if (if_absent == STORE_PUT_NAMED && atomic_load(&s->no_cond_put))
                if_absent = STORE_PUT_ANY; /* content-named: a plain PUT, no HEAD */
        if (if_absent && atomic_load(&s->no_cond_put)) {
                /* Check, then put: racy, but if_absent only makes honest races rare. */
                rc = s3_head(s, "put", full, NULL);
                if (rc != -ENOENT)
                        return rc == 0 ? -EEXIST : rc;
                if_absent = 0;
        }
        s3_req_init(&r, "put", "PUT", full);
        r.body = buf;
        r.body_len = len;
        r.body_sha = sha;
        r.source = src;
        r.source_arg = arg;
        r.if_none_match = if_absent != STORE_PUT_ANY;
        r.max = S3_ERR_MAX;
        rc = s3_perform(s, &r);
        /* An earlier attempt may have stored it before the connection failed (a streamed
         * body cannot be compared: -EEXIST, for the caller to judge by its name). */
        if (rc == -EEXIST && r.ambiguous && src == NULL)
                rc = s3_same_object(s, full, buf, len);
        s3_str_free(&r.resp);
        if (rc == -ENOTSUP && if_absent) {
                s3_no_cond_put(s);
                return s3_put_body(st, key, buf, len, src, arg, if_absent, sha);
        }
        return rc;
}

/* s3_put, where SHA (or NULL) is BUF's SHA-256, computed by the caller. */
static int s3_put_sha(struct store *st, const char *key, const void *buf, size_t len, int if_absent,
                      const uint8_t *sha)
{
        return s3_put_body(st, key, buf, len, NULL, NULL, if_absent, sha);
}

/* D9: one PUT streamed from READ; larger than a single PUT takes, read whole and put. */
static int s3_put_stream(struct store *st, const char *key, uint64_t len, int if_absent,
                         const uint8_t sha256[32], store_source_fn read, void *arg)
{
        if (read == NULL || sha256 == NULL)
                return -EINVAL;
        if (len < S3_MULTIPART_MIN)
                return s3_put_body(st, key, NULL, (size_t)len, read, arg, if_absent, sha256);
        return store_put_buffered(st, key, len, if_absent, sha256, read, arg); /* multipart */
}

static int s3_put(struct store *st, const char *key, const void *buf, size_t len, int if_absent)
{
        return s3_put_sha(st, key, buf, len, if_absent, NULL);
}

static int s3_put_hashed(struct store *st, const char *key, const void *buf, size_t len,
                         int if_absent, const uint8_t sha256[32])
{
        return s3_put_sha(st, key, buf, len, if_absent, sha256);
}

static int s3_get(struct store *st, const char *key, size_t max, uint8_t **buf, size_t *len)
{
        struct store_s3 *s = store_s3_of(st);
        char full[S3_FULLKEY_MAX + 1];
        struct s3_req r;
        int rc;

        rc = s3_fullkey(s, key, full);
        if (rc != 0)
                return rc;
        s3_req_init(&r, "get", "GET", full);
        r.max = max;
        rc = s3_perform(s, &r);
        if (rc == 0 && r.resp.p == NULL) {
                r.resp.p = malloc(1); /* an empty object */
                if (r.resp.p == NULL)
                        rc = -ENOMEM;
        }
        if (rc == 0) {
                *buf = (uint8_t *)r.resp.p; /* the caller owns it now */
                *len = r.resp.len;
                r.resp.p = NULL;
        }
        s3_str_free(&r.resp);
        return rc;
}

static int s3_get_range(struct store *st, const char *key, uint64_t off, size_t len, uint8_t *buf)
{
        struct store_s3 *s = store_s3_of(st);
        char full[S3_FULLKEY_MAX + 1];
        uint64_t size = 0;
        struct s3_req r;
        int rc;

        rc = s3_fullkey(s, key, full);
        if (rc != 0)
                return rc;
        if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off ||
            (len > 0 && buf == NULL))
                return -EINVAL;
        if (len == 0) {
                /* No byte range can say "nothing": check existence and size. */
                rc = s3_head(s, "get_range", full, &size);
                return rc == 0 && size < off ? -EIO : rc;
        }
        s3_req_init(&r, "get_range", "GET", full);
        r.range = 1;
        r.range_off = off;
        r.range_len = len;
        r.dst = buf;
        r.max = len;
        rc = s3_perform(s, &r);
        if (rc == 0 && r.status == 206 &&
            (!r.have_crange || r.crange_start != off || r.crange_end - r.crange_start + 1 != len))
                rc = -EIO; /* a short object gives a shorter Content-Range */
        if (rc == 0 && r.got != len)
                rc = -EIO;
        s3_str_free(&r.resp);
        return rc;
}

static int s3_del(struct store *st, const char *key)
{
        struct store_s3 *s = store_s3_of(st);
        char full[S3_FULLKEY_MAX + 1];
        struct s3_req r;
        int rc;

        rc = s3_fullkey(s, key, full);
        if (rc != 0)
                return rc;
        /* S3 answers 204 to the deletion of a missing key: ask first (store.h's contract). */
        rc = s3_head(s, "del", full, NULL);
        if (rc != 0)
                return rc;
        s3_req_init(&r, "del", "DELETE", full);
        r.max = S3_ERR_MAX;
        rc = s3_perform(s, &r);
        s3_str_free(&r.resp);
        return rc;
}

/* ------------------------------------------------------------------- list */

struct s3_list {
        struct store_s3 *s;
        const char *full_prefix;
        size_t strip; /* strlen(s->prefix) */
        int (*cb)(void *arg, const char *key, uint64_t size);
        void *arg;
        char last[S3_FULLKEY_MAX + 1]; /* the greatest full key seen so far */
        size_t entries, junk;
        /* the <Contents> being read */
        char key[S3_FULLKEY_MAX + 1];
        uint64_t size;
        int have_key, have_size, bad;
        /* the page's IsTruncated and NextContinuationToken */
        char *token;
        size_t token_cap;
        int have_trunc, truncated, have_token;
        int cb_rc;
};

/* s3_list_ev's own stop values (the parser uses -1; callbacks return -errno). */
#define S3_LIST_NOT_LIST 1
#define S3_LIST_BAD_TRUNC 2
#define S3_LIST_STOP 3 /* s3_list_entry returned l->cb_rc */

/* Handles one <Contents> element: 0, the callback's value, or -EIO. */
static int s3_list_entry(struct s3_list *l)
{
        const char *key = l->key, *rel;

        if (!l->have_key || !l->have_size) {
                l->junk++;
                return 0;
        }
        if (strcmp(key, l->last) <= 0) {
                log_err("S3 bucket '%s': listing out of order (a key at or before the previous "
                        "one): refusing it",
                        l->s->bucket);
                return -EIO;
        }
        memcpy(l->last, key, strlen(key) + 1);
        rel = key + l->strip;
        if (strncmp(key, l->full_prefix, strlen(l->full_prefix)) != 0 || !store_key_valid(rel)) {
                l->junk++; /* not ours, or not a key we could have written */
                return 0;
        }
        return l->cb(l->arg, rel, l->size);
}

/* Copies leaf TEXT (N bytes) into a field of CAP bytes; 0, or -1 if it is set twice or too long. */
static int s3_list_field(int *have, char *dst, size_t cap, const char *text, size_t n)
{
        if (*have || n + 1 > cap)
                return -1;
        memcpy(dst, text, n + 1);
        *have = 1;
        return 0;
}

/* s3xml callback for one ListBucketResult page (exact element paths only). */
static int s3_list_ev(void *arg, enum s3xml_event ev, const char *path, int leaf, const char *text,
                      size_t n)
{
        struct s3_list *l = arg;
        int rc;

        if (ev == S3XML_OPEN) {
                if (strchr(path, '/') == NULL && strcmp(path, "ListBucketResult") != 0)
                        return S3_LIST_NOT_LIST;
                if (strcmp(path, "ListBucketResult/Contents") == 0)
                        l->have_key = l->have_size = l->bad = 0;
                return 0;
        }
        if (strcmp(path, "ListBucketResult/Contents") == 0) {
                l->entries++;
                if (l->bad) {
                        l->junk++;
                        return 0;
                }
                rc = s3_list_entry(l);
                if (rc != 0) {
                        l->cb_rc = rc;
                        return S3_LIST_STOP;
                }
                return 0;
        }
        if (!leaf)
                return 0;
        if (strcmp(path, "ListBucketResult/Contents/Key") == 0) {
                if (strlen(text) != n ||
                    s3_list_field(&l->have_key, l->key, sizeof(l->key), text, n) != 0)
                        l->bad = 1;
        } else if (strcmp(path, "ListBucketResult/Contents/Size") == 0) {
                if (l->have_size || s3_parse_u64(text, n, &l->size) != 0)
                        l->bad = 1;
                l->have_size = 1;
        } else if (strcmp(path, "ListBucketResult/IsTruncated") == 0) {
                if (l->have_trunc || (strcmp(text, "true") != 0 && strcmp(text, "false") != 0))
                        return S3_LIST_BAD_TRUNC;
                l->have_trunc = 1;
                l->truncated = strcmp(text, "true") == 0;
        } else if (strcmp(path, "ListBucketResult/NextContinuationToken") == 0) {
                if (s3_list_field(&l->have_token, l->token, l->token_cap, text, n) != 0)
                        return S3_LIST_BAD_TRUNC;
        }
        return 0;
}

/* Handles one page; *TOKEN is set to the next continuation token or "". */
static int s3_list_page(struct s3_list *l, const char *doc, size_t n, char *token, size_t cap)
{
        int rc;

        token[0] = '\0';
        l->token = token;
        l->token_cap = cap;
        l->have_trunc = l->truncated = l->have_token = 0;
        rc = s3xml_parse(doc, n, s3_list_ev, l);
        if (rc == S3_LIST_NOT_LIST || rc == -1) {
                log_err("S3 bucket '%s': list: the response is not a well-formed "
                        "ListBucketResult",
                        l->s->bucket);
                return -EIO;
        }
        if (rc == S3_LIST_BAD_TRUNC) {
                log_err("S3 bucket '%s': list: malformed IsTruncated or NextContinuationToken",
                        l->s->bucket);
                return -EIO;
        }
        if (rc == S3_LIST_STOP)
                return l->cb_rc;
        if (rc != 0)
                return -EIO;
        if (!l->truncated) {
                token[0] = '\0';
                return 0;
        }
        if (!l->have_token || token[0] == '\0') {
                log_err("S3 bucket '%s': list: truncated listing without a usable "
                        "NextContinuationToken",
                        l->s->bucket);
                return -EIO;
        }
        return 0;
}

static int s3_prefix_ok(const char *p)
{
        size_t i;

        if (strlen(p) > S3_KEY_MAX || p[0] == '/')
                return 0;
        for (i = 0; p[i] != '\0'; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
                      p[i] == '/') ||
                    (p[i] == '/' && p[i + 1] == '/'))
                        return 0;
        return 1;
}

static int s3_list(struct store *st, const char *prefix, const char *start_after,
                   int (*cb)(void *arg, const char *key, uint64_t size), void *arg)
{
        struct store_s3 *s = store_s3_of(st);
        char full_prefix[S3_FULLKEY_MAX + 1], full_sa[S3_FULLKEY_MAX + 1];
        char *token = NULL, *prev = NULL;
        struct s3_list l;
        struct s3_req r;
        int rc = 0, empty_pages = 0;
        size_t before;

        if (prefix == NULL)
                prefix = "";
        if (!s3_prefix_ok(prefix) || (start_after != NULL && strlen(start_after) > S3_KEY_MAX))
                return -EINVAL;
        snprintf(full_prefix, sizeof(full_prefix), "%s%s", s->prefix, prefix);
        memset(&l, 0, sizeof(l));
        l.s = s;
        l.full_prefix = full_prefix;
        l.strip = strlen(s->prefix);
        l.cb = cb;
        l.arg = arg;
        if (start_after != NULL) {
                snprintf(full_sa, sizeof(full_sa), "%s%s", s->prefix, start_after);
                memcpy(l.last, full_sa, strlen(full_sa) + 1);
        }
        token = malloc(S3_TOKEN_MAX);
        prev = malloc(S3_TOKEN_MAX);
        if (token == NULL || prev == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        token[0] = prev[0] = '\0';
        do {
                s3_req_init(&r, "list", "GET", NULL);
                s3_req_param(&r, "list-type", "2");
                if (full_prefix[0] != '\0')
                        s3_req_param(&r, "prefix", full_prefix);
                if (token[0] != '\0')
                        s3_req_param(&r, "continuation-token", token);
                else if (start_after != NULL)
                        s3_req_param(&r, "start-after", full_sa);
                r.max = S3_XML_MAX;
                rc = s3_perform(s, &r);
                if (rc == 0) {
                        memcpy(prev, token, strlen(token) + 1);
                        before = l.entries;
                        rc = s3_list_page(&l, r.resp.p, r.resp.len, token, S3_TOKEN_MAX);
                        /* A page that moves nothing forward, again and again: a loop. */
                        empty_pages = l.entries == before ? empty_pages + 1 : 0;
                        if (rc == 0 && token[0] != '\0' &&
                            (strcmp(token, prev) == 0 || empty_pages > 100)) {
                                log_err("S3 bucket '%s': list: the service repeats itself "
                                        "(continuation token loop)",
                                        s->bucket);
                                rc = -EIO;
                        }
                }
                s3_str_free(&r.resp);
        } while (rc == 0 && token[0] != '\0');
        if (l.junk > 0)
                log_debug("S3 bucket '%s': list skipped %zu objects that are not store keys",
                          s->bucket, l.junk);
out:
        free(token);
        free(prev);
        return rc;
}

static void s3_close(struct store *st)
{
        struct store_s3 *s = store_s3_of(st);
        int i;

        for (i = 0; i < S3_CONC_MAX; i++)
                if (s->pool[i] != NULL)
                        curl_easy_cleanup(s->pool[i]);
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->lock);
        if (s->secret != NULL)
                secmem_free(s->secret); /* wipes */
        if (s->token != NULL)
                secmem_wipe(s->token, strlen(s->token));
        free(s->token);
        free(s->access);
        free(s->host);
        free(s->url);
        free(s->uri);
        free(s->cainfo);
        free(s);
}

static const struct store_ops store_s3_ops = {
    .put = s3_put,
    .put_hashed = s3_put_hashed,
    .put_stream = s3_put_stream,
    .get = s3_get,
    .get_range = s3_get_range,
    .list = s3_list,
    .del = s3_del,
    .close = s3_close,
};

/* ---------------------------------------------------------- configuration */

static const char *s3_env(const char *name)
{
        const char *v = getenv(name);

        return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Printable ASCII without spaces (header-safe): access keys, tokens, secrets. */
static int s3_cred_ok(const char *v, size_t n)
{
        size_t i;

        if (n == 0)
                return 0;
        for (i = 0; i < n; i++)
                if (v[i] < 0x21 || v[i] > 0x7e)
                        return 0;
        return 1;
}

static int s3_set_secret(struct store_s3 *s, const char *v, size_t n)
{
        s->secret = secmem_alloc(4 + n);
        if (s->secret == NULL)
                return -ENOMEM;
        memcpy(s->secret, "AWS4", 4);
        memcpy(s->secret + 4, v, n);
        s->secret_len = 4 + n;
        return 0;
}

static char *s3_strndup(const char *v, size_t n)
{
        char *p = malloc(n + 1);

        if (p != NULL) {
                memcpy(p, v, n);
                p[n] = '\0';
        }
        return p;
}

static int s3_creds_file(struct store_s3 *s)
{
        const char *file = s3_env("AWS_SHARED_CREDENTIALS_FILE");
        const char *profile = s3_env("AWS_PROFILE");
        struct s3ini_key k[] = {{"aws_access_key_id", NULL, 0, 0},
                                {"aws_secret_access_key", NULL, 0, 0},
                                {"aws_session_token", NULL, 0, 0},
                                {"aws_security_token", NULL, 0, 0}};
        struct s3ini_key *id = &k[0], *secret = &k[1], *token = &k[2];
        char path[PATH_MAX];
        struct passwd pw, *pwp = NULL;
        char pwbuf[1024];
        const char *home;
        uint8_t *doc = NULL;
        size_t n = 0;
        int rc;

        if (profile == NULL)
                profile = "default";
        if (file == NULL) {
                home = s3_env("HOME");
                if (home == NULL && getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 &&
                    pwp != NULL)
                        home = pw.pw_dir;
                if (home == NULL ||
                    snprintf(path, sizeof(path), "%s/.aws/credentials", home) >= (int)sizeof(path))
                        goto none;
                file = path;
        }
        rc = fileio_read_all(file, S3_CRED_FILE_MAX, &doc, &n);
        if (rc == -ENOENT)
                goto none;
        if (rc != 0) {
                log_err("cannot read S3 credentials file %s: %s", file, strerror(-rc));
                return rc;
        }
        rc = s3ini_parse(file, (const char *)doc, n, profile, 0, k, 4);
        if (rc == 0 && k[3].set && token->set) {
                log_err("profile [%s] in %s has both aws_session_token and aws_security_token",
                        profile, file);
                rc = -EINVAL;
        } else if (rc == 0 && k[3].set) {
                k[2] = k[3];
        }
        if (rc == -ENOENT) {
                log_err("no profile [%s] in %s (AWS_PROFILE selects one)", profile, file);
                rc = -EACCES;
        } else if (rc == 0 && (!id->set || !secret->set)) {
                log_err("profile [%s] in %s lacks aws_access_key_id or aws_secret_access_key",
                        profile, file);
                rc = -EACCES;
        } else if (rc == 0 && (!s3_cred_ok(id->v, id->n) || !s3_cred_ok(secret->v, secret->n) ||
                               (token->set && !s3_cred_ok(token->v, token->n)))) {
                log_err("profile [%s] in %s: credentials must be printable ASCII without spaces",
                        profile, file);
                rc = -EINVAL;
        }
        if (rc == 0) {
                s->access = s3_strndup(id->v, id->n);
                s->token = token->set ? s3_strndup(token->v, token->n) : NULL;
                rc = s->access == NULL || (token->set && s->token == NULL)
                         ? -ENOMEM
                         : s3_set_secret(s, secret->v, secret->n);
        }
        secmem_wipe(doc, n);
        free(doc);
        return rc;
none:
        log_err("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(and AWS_SESSION_TOKEN for temporary ones) or write ~/.aws/credentials");
        return -EACCES;
}

static int s3_creds(struct store_s3 *s)
{
        const char *id = s3_env("AWS_ACCESS_KEY_ID"), *secret = s3_env("AWS_SECRET_ACCESS_KEY");
        const char *token = s3_env("AWS_SESSION_TOKEN");

        if (id == NULL && secret == NULL)
                return s3_creds_file(s);
        if (id == NULL || secret == NULL) {
                log_err("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither");
                return -EINVAL;
        }
        if (!s3_cred_ok(id, strlen(id)) || !s3_cred_ok(secret, strlen(secret)) ||
            (token != NULL && !s3_cred_ok(token, strlen(token)))) {
                log_err("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN must be "
                        "printable ASCII without spaces");
                return -EINVAL;
        }
        s->access = strdup(id);
        s->token = token != NULL ? strdup(token) : NULL;
        if (s->access == NULL || (token != NULL && s->token == NULL))
                return -ENOMEM;
        return s3_set_secret(s, secret, strlen(secret));
}

/* scheme://authority[/] with no userinfo, query or path: *SCHEME_LEN, *AUTH. */
static int s3_endpoint_parse(const char *ep, int *https, const char **auth, size_t *auth_len)
{
        const char *a;
        size_t n, i;

        if (strncasecmp(ep, "https://", 8) == 0) {
                *https = 1;
                a = ep + 8;
        } else if (strncasecmp(ep, "http://", 7) == 0) {
                *https = 0;
                a = ep + 7;
        } else {
                return -1;
        }
        n = strlen(a);
        if (n > 0 && a[n - 1] == '/')
                n--;
        if (n == 0 || n > 255)
                return -1;
        for (i = 0; i < n; i++)
                if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
                      (a[i] >= '0' && a[i] <= '9') || a[i] == '.' || a[i] == '-' || a[i] == ':' ||
                      a[i] == '[' || a[i] == ']' || a[i] == '_'))
                        return -1;
        *auth = a;
        *auth_len = n;
        return 0;
}

static int s3_region_ok(const char *r)
{
        size_t i, n = strlen(r);

        if (n == 0 || n >= 64)
                return 0;
        for (i = 0; i < n; i++)
                if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
                        return 0;
        return 1;
}

static char *s3_concat(const char *a, size_t an, const char *b, const char *c, size_t cn)
{
        struct s3_str s = {0};

        s3_str_addn(&s, a, an);
        s3_str_add(&s, b);
        s3_str_addn(&s, c, cn);
        if (s.oom) {
                s3_str_free(&s);
                return NULL;
        }
        return s.p;
}

/*
 * region and endpoint_url of the selected profile (AWS_PROFILE, else
 * default) in AWS_CONFIG_FILE or ~/.aws/config, as the AWS tools read them:
 * [default] or [profile NAME].  A missing file or profile leaves both "";
 * returns 0, -EINVAL (malformed file or value; logged) or -EIO.
 */
static int s3_config_file(char region[64], char ep[300])
{
        const char *file = s3_env("AWS_CONFIG_FILE"), *profile = s3_env("AWS_PROFILE"), *home;
        struct s3ini_key k[] = {{"region", NULL, 0, 0}, {"endpoint_url", NULL, 0, 0}};
        char path[PATH_MAX], section[300];
        uint8_t *doc = NULL;
        size_t n = 0;
        int rc;

        region[0] = ep[0] = '\0';
        if (profile == NULL)
                profile = "default";
        if (file == NULL) {
                home = s3_env("HOME");
                if (home == NULL ||
                    snprintf(path, sizeof(path), "%s/.aws/config", home) >= (int)sizeof(path))
                        return 0;
                file = path;
        }
        if (strcmp(profile, "default") == 0)
                snprintf(section, sizeof(section), "default");
        else if (snprintf(section, sizeof(section), "profile %s", profile) >= (int)sizeof(section))
                return -EINVAL;
        rc = fileio_read_all(file, S3_CRED_FILE_MAX, &doc, &n);
        if (rc == -ENOENT)
                return 0;
        if (rc != 0) {
                log_err("cannot read the AWS config file %s: %s", file, strerror(-rc));
                return rc;
        }
        rc = s3ini_parse(file, (const char *)doc, n, section, 1, k, 2);
        if (rc == -ENOENT)
                rc = 0;
        if (rc == 0 && ((k[0].set && k[0].n >= 64) || (k[1].set && k[1].n >= 300))) {
                log_err("%s: [%s]: region or endpoint_url too long", file, section);
                rc = -EINVAL;
        }
        if (rc == 0 && k[0].set)
                snprintf(region, 64, "%.*s", (int)k[0].n, k[0].v);
        if (rc == 0 && k[1].set)
                snprintf(ep, 300, "%.*s", (int)k[1].n, k[1].v);
        free(doc);
        return rc;
}

static int s3_endpoint(struct store_s3 *s)
{
        char cfg_region[64], cfg_ep[300];
        int rc;
        const char *ep = s3_env("AWS_ENDPOINT_URL_S3"), *style = s3_env("AWS_S3_ADDRESSING_STYLE");
        const char *region = s3_env("AWS_REGION"), *auth;
        char deflt[128];
        size_t auth_len;
        int https, path_style;

        if (ep == NULL)
                ep = s3_env("AWS_ENDPOINT_URL");
        if (region == NULL)
                region = s3_env("AWS_DEFAULT_REGION");
        rc = s3_config_file(cfg_region, cfg_ep);
        if (rc != 0)
                return rc;
        if (region == NULL && cfg_region[0] != '\0')
                region = cfg_region;
        if (ep == NULL && cfg_ep[0] != '\0')
                ep = cfg_ep;
        if (region == NULL)
                region = "us-east-1";
        if (!s3_region_ok(region)) {
                log_err("invalid AWS_REGION '%.64s': expected e.g. us-east-1", region);
                return -EINVAL;
        }
        snprintf(s->region, sizeof(s->region), "%s", region);
        path_style = ep != NULL;
        if (ep == NULL) {
                snprintf(deflt, sizeof(deflt), "https://s3.%s.amazonaws.com", s->region);
                ep = deflt;
        }
        if (s3_endpoint_parse(ep, &https, &auth, &auth_len) != 0) {
                log_err("invalid S3 endpoint URL (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or "
                        "endpoint_url in the AWS config file): "
                        "expected http[s]://host[:port] with no path, user or query");
                return -EINVAL;
        }
        /* Dotted bucket names do not match a wildcard certificate as a host name. */
        if (!path_style && https && strchr(s->bucket, '.') != NULL)
                path_style = 1;
        if (style != NULL && strcmp(style, "path") == 0) {
                path_style = 1;
        } else if (style != NULL && strcmp(style, "virtual") == 0) {
                path_style = 0;
        } else if (style != NULL && strcmp(style, "auto") != 0) {
                log_err("AWS_S3_ADDRESSING_STYLE must be path, virtual or auto");
                return -EINVAL;
        }
        if (path_style) {
                s->host = s3_strndup(auth, auth_len);
                s->uri = s3_concat("/", 1, s->bucket, "", 0);
        } else {
                s->host = s3_concat(s->bucket, strlen(s->bucket), ".", auth, auth_len);
                s->uri = strdup("");
        }
        if (s->host == NULL || s->uri == NULL)
                return -ENOMEM;
        s->url = s3_concat(https ? "https://" : "http://", https ? 8 : 7, s->host, s->uri,
                           strlen(s->uri));
        if (s->url == NULL)
                return -ENOMEM;
        if (s3_env("AWS_CA_BUNDLE") != NULL) {
                s->cainfo = strdup(s3_env("AWS_CA_BUNDLE"));
                if (s->cainfo == NULL)
                        return -ENOMEM;
        }
        return 0;
}

/* SEALSYNC_S3_CONCURRENCY: 1..S3_CONC_MAX, default S3_CONC_DEFAULT. */
static int s3_concurrency(struct store_s3 *s)
{
        const char *v = s3_env("SEALSYNC_S3_CONCURRENCY");
        uint64_t n = 0;

        s->conc = S3_CONC_DEFAULT;
        if (v == NULL)
                return 0;
        if (s3_parse_u64(v, strlen(v), &n) != 0 || n < 1 || n > S3_CONC_MAX) {
                log_err("SEALSYNC_S3_CONCURRENCY must be a number from 1 to %d", S3_CONC_MAX);
                return -EINVAL;
        }
        s->conc = (int)n;
        return 0;
}

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc = CURLE_FAILED_INIT;

static void s3_curl_init(void)
{
        s3_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int store_s3_open(const char *url, struct store **out)
{
        const char *rest, *slash;
        struct store_s3 *s;
        size_t blen, plen;
        int rc;

        if (strncasecmp(url, "s3://", 5) != 0)
                return -EINVAL;
        rest = url + 5;
        slash = strchr(rest, '/');
        blen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
        plen = slash != NULL ? strlen(slash + 1) : 0;
        if (plen > 0 && slash[plen] == '/')
                plen--;
        if (blen < 3 || blen > 63 || plen > S3_KEY_MAX)
                return -EINVAL;
        rc = secmem_init();
        if (rc != 0)
                return rc;
        pthread_once(&s3_curl_once, s3_curl_init);
        if (s3_curl_init_rc != CURLE_OK) {
                log_err("libcurl initialisation failed: %s", curl_easy_strerror(s3_curl_init_rc));
                return -EIO;
        }
        s = calloc(1, sizeof(*s));
        if (s == NULL)
                return -ENOMEM;
        s->base.ops = &store_s3_ops;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->idle, NULL);
        memcpy(s->bucket, rest, blen);
        if (plen > 0) {
                memcpy(s->prefix, slash + 1, plen);
                s->prefix[plen] = '/';
        }
        rc = s3_concurrency(s);
        if (rc == 0)
                rc = s3_endpoint(s);
        if (rc == 0)
                rc = s3_creds(s);
        if (rc != 0) {
                s3_close(&s->base);
                return rc;
        }
        *out = &s->base;
        return 0;
}
