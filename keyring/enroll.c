/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enrollment: invite codes, join requests, replies, invite records.
 * See enroll.h for the protocol and doc/FORMAT-keyring.md "Enrollment" for
 * the bytes.
 *
 * Keys, all from the invite secret S (16 bytes) and the region id:
 *
 *   K_inv   = BLAKE2b-256(key = S, "sealsync/v1/invite\0" || region_id)
 *   id      = kdf_derive(32, K_inv, "invite-id",   empty)
 *   check   = kdf_derive(32, K_inv, "invite-code", genesis_hash)[0..2] >> 1   (15 bits)
 *   K_join  = kdf_derive(32, K_inv, "join-mac",    region_id)
 *   K_reply = kdf_derive(32, K_inv, "reply-mac",   region_id)
 *
 * and the key sealing S in the approver's record:
 *
 *   K_seal  = kdf_derive(32, local_key, "invite-seal", region_id)
 */
#include "keyring/enroll.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/aead.h"
#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/words.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define ENROLL_VERSION 1
#define ENROLL_JOIN_SIG_TYPE "join"
#define ENROLL_OFFER_SIG_TYPE "invite-offer"
#define ENROLL_CODE_BYTES 18 /* S || u16be(check << 1): 144 bits, 143 used */
#define ENROLL_INVITES "invites"
#define ENROLL_INVITE_MAGIC "SEALSYNC-INVITE1"
#define ENROLL_INVITE_MAGIC_LEN 16
#define ENROLL_INVITE_VERSION 2 /* 2: + owner (issue #4) */
#define ENROLL_INVITE_HEADER_MAX                                                                   \
        (ENROLL_INVITE_MAGIC_LEN + 1 + 1 + 32 + ENROLL_ID_LEN + 8 + 8 + 1 + 4 + MEMBER_NAME_MAX)
#define ENROLL_INVITE_SEALED (ENROLL_SECRET_LEN + AEAD_OVERHEAD)
#define ENROLL_INVITE_MAX 512

static const char enroll_inv_domain[] = "sealsync/v1/invite"; /* + its NUL */

/* ---- keys ---- */

/* A 32-byte secmem key derived from S (see the top of this file); wiped by secmem_free. */
enum enroll_key_kind { ENROLL_K_ID, ENROLL_K_CODE, ENROLL_K_JOIN, ENROLL_K_REPLY };

static int enroll_kinv(uint8_t *kinv, const uint8_t s[static ENROLL_SECRET_LEN],
                       const uint8_t region_id[static 32])
{
        const struct hash_part parts[] = {
            {enroll_inv_domain, sizeof(enroll_inv_domain)},
            {region_id, 32},
        };

        return hash_parts(kinv, 32, s, ENROLL_SECRET_LEN, parts, 2);
}

/* OUT (32 bytes) = the key or value KIND of S (M: genesis hash for ENROLL_K_CODE). */
static int enroll_derive(uint8_t out[static 32], enum enroll_key_kind kind,
                         const uint8_t s[static ENROLL_SECRET_LEN],
                         const uint8_t region_id[static 32], const uint8_t *m)
{
        uint8_t *kinv = secmem_alloc(32);
        int rc;

        if (kinv == NULL)
                return -ENOMEM;
        rc = enroll_kinv(kinv, s, region_id);
        if (rc == 0) {
                switch (kind) {
                case ENROLL_K_ID:
                        rc = kdf_derive(out, 32, kinv, "invite-id", NULL, 0);
                        break;
                case ENROLL_K_CODE:
                        rc = kdf_derive(out, 32, kinv, "invite-code", m, MEMBER_HASH_LEN);
                        break;
                case ENROLL_K_JOIN:
                        rc = kdf_derive(out, 32, kinv, "join-mac", region_id, 32);
                        break;
                case ENROLL_K_REPLY:
                        rc = kdf_derive(out, 32, kinv, "reply-mac", region_id, 32);
                        break;
                }
        }
        secmem_free(kinv);
        return rc;
}

int enroll_invite_id(uint8_t out[static ENROLL_ID_LEN], const uint8_t s[static ENROLL_SECRET_LEN],
                     const uint8_t region_id[static 32])
{
        return enroll_derive(out, ENROLL_K_ID, s, region_id, NULL);
}

/* The 15 check bits of a code. */
static int enroll_check_bits(uint16_t *out, const uint8_t s[static ENROLL_SECRET_LEN],
                             const uint8_t region_id[static 32],
                             const uint8_t genesis_hash[static MEMBER_HASH_LEN])
{
        uint8_t h[32];
        int rc = enroll_derive(h, ENROLL_K_CODE, s, region_id, genesis_hash);

        if (rc == 0)
                *out = (uint16_t)(((unsigned)h[0] << 8 | h[1]) >> 1);
        secmem_wipe(h, sizeof(h));
        return rc;
}

/* MAC = BLAKE2b-256(key = the KIND key of S, A || B). */
static int enroll_mac(uint8_t mac[static ENROLL_MAC_LEN], enum enroll_key_kind kind,
                      const uint8_t s[static ENROLL_SECRET_LEN], const uint8_t region_id[static 32],
                      const void *a, size_t alen, const void *b, size_t blen)
{
        const struct hash_part parts[] = {{a, alen}, {b, blen}};
        uint8_t *k = secmem_alloc(32);
        int rc;

        if (k == NULL)
                return -ENOMEM;
        rc = enroll_derive(k, kind, s, region_id, NULL);
        if (rc == 0)
                rc = hash_parts(mac, ENROLL_MAC_LEN, k, 32, parts, 2);
        secmem_free(k);
        return rc;
}

/* ---- the code ---- */

int enroll_code_encode(char *out, size_t outlen, const uint8_t s[static ENROLL_SECRET_LEN],
                       const uint8_t region_id[static 32],
                       const uint8_t genesis_hash[static MEMBER_HASH_LEN])
{
        uint8_t data[ENROLL_CODE_BYTES];
        uint16_t check = 0;
        int rc;

        rc = enroll_check_bits(&check, s, region_id, genesis_hash);
        if (rc != 0)
                return rc;
        memcpy(data, s, ENROLL_SECRET_LEN);
        data[16] = (uint8_t)(check >> 7);
        data[17] = (uint8_t)(check << 1);
        rc = words_encode(out, outlen, data, sizeof(data), ENROLL_CODE_WORDS, ' ');
        secmem_wipe(data, sizeof(data));
        return rc;
}

int enroll_code_decode(uint8_t s[static ENROLL_SECRET_LEN], uint16_t *check, const char *text)
{
        uint8_t data[ENROLL_CODE_BYTES];
        int rc;

        rc = words_decode(data, sizeof(data), text, ENROLL_CODE_WORDS);
        if (rc == 0) {
                memcpy(s, data, ENROLL_SECRET_LEN);
                *check = (uint16_t)(((unsigned)data[16] << 8 | data[17]) >> 1);
        }
        secmem_wipe(data, sizeof(data));
        return rc == 0 ? 0 : -EINVAL;
}

int enroll_code_matches(const uint8_t s[static ENROLL_SECRET_LEN], uint16_t check,
                        const uint8_t region_id[static 32],
                        const uint8_t genesis_hash[static MEMBER_HASH_LEN])
{
        uint16_t want = 0;
        uint8_t a[2], b[2];

        if (enroll_check_bits(&want, s, region_id, genesis_hash) != 0)
                return 0;
        a[0] = (uint8_t)(want >> 8);
        a[1] = (uint8_t)want;
        b[0] = (uint8_t)(check >> 8);
        b[1] = (uint8_t)check;
        return secmem_equal(a, b, 2);
}

/* ---- join requests ---- */

/* "<region hex>/KIND/<hex of NAME (NLEN bytes, at most 32)>". */
static int enroll_key(const char *kind, const uint8_t region_id[static 32], const uint8_t *name,
                      size_t nlen, char *out, size_t outlen)
{
        char rid[65], n[2 * ENROLL_ID_LEN + 1];
        int len;

        assert(nlen <= ENROLL_ID_LEN);
        hex_encode(rid, region_id, 32);
        hex_encode(n, name, nlen);
        len = snprintf(out, outlen, "%s/%s/%s", rid, kind, n);
        return len < 0 || (size_t)len >= outlen ? -ENOSPC : 0;
}

int enroll_request_key(const uint8_t region_id[static 32],
                       const uint8_t nonce[static ENROLL_NONCE_LEN], char *out, size_t outlen)
{
        return enroll_key("join", region_id, nonce, ENROLL_NONCE_LEN, out, outlen);
}

int enroll_reply_key(const uint8_t region_id[static 32],
                     const uint8_t nonce[static ENROLL_NONCE_LEN], char *out, size_t outlen)
{
        return enroll_key("reply", region_id, nonce, ENROLL_NONCE_LEN, out, outlen);
}

/* The fields before the MAC (FORMAT-keyring.md "Join request"). */
static void enroll_enc_request(struct enc *en, const struct enroll_request *r)
{
        enc_u8(en, ENROLL_VERSION);
        enc_fixed(en, r->region_id, 32);
        enc_fixed(en, r->genesis_hash, MEMBER_HASH_LEN);
        enc_fixed(en, r->invite_id, ENROLL_ID_LEN);
        enc_fixed(en, r->nonce, ENROLL_NONCE_LEN);
        enc_u64(en, r->time);
        enc_fixed(en, r->device.device_id, IDENTITY_ID_LEN);
        enc_fixed(en, r->device.sign_pk, 32);
        enc_fixed(en, r->device.box_pk, 32);
        enc_var(en, r->device.name, strlen(r->device.name));
        enc_fixed(en, r->self_sig, MEMBER_SIG_LEN);
}

int enroll_request_build(const struct identity *id, const uint8_t region_id[static 32],
                         const uint8_t genesis_hash[static MEMBER_HASH_LEN],
                         const uint8_t s[static ENROLL_SECRET_LEN],
                         const uint8_t nonce[static ENROLL_NONCE_LEN], uint64_t now,
                         struct enroll_request *out)
{
        struct enroll_request r;
        struct enc en;
        int rc;

        if (id->sign_sk == NULL || !member_name_valid(id->name))
                return -EINVAL;
        memset(&r, 0, sizeof(r));
        memcpy(r.region_id, region_id, 32);
        memcpy(r.genesis_hash, genesis_hash, MEMBER_HASH_LEN);
        memcpy(r.nonce, nonce, ENROLL_NONCE_LEN);
        r.time = now;
        memcpy(r.device.device_id, id->device_id, IDENTITY_ID_LEN);
        memcpy(r.device.sign_pk, id->sign_pk, 32);
        memcpy(r.device.box_pk, id->box_pk, 32);
        snprintf(r.device.name, sizeof(r.device.name), "%s", id->name);
        rc = enroll_invite_id(r.invite_id, s, region_id);
        if (rc == 0)
                rc = member_self_sign(r.self_sig, id->sign_sk, region_id, &r.device);
        if (rc != 0)
                return rc;
        enc_init(&en);
        enroll_enc_request(&en, &r);
        rc = enc_error(&en);
        if (rc == 0 && en.len + ENROLL_MAC_LEN + MEMBER_SIG_LEN > ENROLL_REQUEST_MAX)
                rc = -EINVAL;
        if (rc == 0) {
                r.mac_off = en.len;
                rc = enroll_mac(r.mac, ENROLL_K_JOIN, s, region_id, en.buf, en.len, NULL, 0);
        }
        if (rc == 0) {
                enc_fixed(&en, r.mac, ENROLL_MAC_LEN);
                rc = enc_error(&en);
        }
        if (rc == 0)
                rc = sig_sign(r.sig, id->sign_sk, ENROLL_JOIN_SIG_TYPE, en.buf, en.len);
        if (rc == 0) {
                enc_fixed(&en, r.sig, MEMBER_SIG_LEN);
                rc = enc_error(&en);
        }
        if (rc == 0) {
                memcpy(r.raw, en.buf, en.len);
                r.raw_len = en.len;
                *out = r;
        }
        enc_release(&en);
        return rc;
}

int enroll_request_decode(const uint8_t *buf, size_t len, struct enroll_request *out)
{
        struct enroll_request r;
        uint8_t id[IDENTITY_ID_LEN];
        const uint8_t *name = NULL;
        size_t nlen = 0;
        struct dec d;

        if (len > ENROLL_REQUEST_MAX)
                return -EBADMSG;
        memset(&r, 0, sizeof(r));
        dec_init(&d, buf, len);
        if (dec_u8(&d) != ENROLL_VERSION)
                return -EBADMSG;
        dec_fixed(&d, r.region_id, 32);
        dec_fixed(&d, r.genesis_hash, MEMBER_HASH_LEN);
        dec_fixed(&d, r.invite_id, ENROLL_ID_LEN);
        dec_fixed(&d, r.nonce, ENROLL_NONCE_LEN);
        r.time = dec_u64(&d);
        dec_fixed(&d, r.device.device_id, IDENTITY_ID_LEN);
        dec_fixed(&d, r.device.sign_pk, 32);
        dec_fixed(&d, r.device.box_pk, 32);
        dec_var(&d, &name, &nlen, MEMBER_NAME_MAX);
        if (d.err != 0)
                return -EBADMSG;
        memcpy(r.device.name, name, nlen);
        r.device.name[nlen] = '\0';
        if (strlen(r.device.name) != nlen || !member_name_valid(r.device.name))
                return -EBADMSG;
        dec_fixed(&d, r.self_sig, MEMBER_SIG_LEN);
        r.mac_off = d.off;
        dec_fixed(&d, r.mac, ENROLL_MAC_LEN);
        dec_fixed(&d, r.sig, MEMBER_SIG_LEN);
        if (dec_finish(&d) != 0)
                return -EBADMSG;
        identity_device_id(r.device.sign_pk, r.device.box_pk, id);
        if (memcmp(id, r.device.device_id, IDENTITY_ID_LEN) != 0)
                return -EBADMSG;
        memcpy(r.raw, buf, len);
        r.raw_len = len;
        *out = r;
        return 0;
}

int enroll_request_verify(const struct enroll_request *r)
{
        if (r->raw_len < MEMBER_SIG_LEN || r->raw_len > ENROLL_REQUEST_MAX)
                return -EBADMSG;
        if (sig_verify(r->sig, r->device.sign_pk, ENROLL_JOIN_SIG_TYPE, r->raw,
                       r->raw_len - MEMBER_SIG_LEN) != 0)
                return -EBADMSG;
        return member_verify_self(r->self_sig, r->region_id, &r->device) == 0 ? 0 : -EBADMSG;
}

int enroll_request_verify_mac(const struct enroll_request *r,
                              const uint8_t s[static ENROLL_SECRET_LEN])
{
        uint8_t mac[ENROLL_MAC_LEN];
        int rc;

        if (r->mac_off > r->raw_len)
                return -EKEYREJECTED;
        rc = enroll_mac(mac, ENROLL_K_JOIN, s, r->region_id, r->raw, r->mac_off, NULL, 0);
        if (rc == 0 && !secmem_equal(mac, r->mac, ENROLL_MAC_LEN))
                rc = -EKEYREJECTED;
        return rc == -ENOMEM ? rc : rc != 0 ? -EKEYREJECTED : 0;
}

/* ---- replies ---- */

/* The reply's bytes before the MAC, and what the MAC covers after them. */
static void enroll_reply_head(uint8_t out[static ENROLL_REPLY_LEN - ENROLL_MAC_LEN],
                              const struct enroll_request *r,
                              const uint8_t add_hash[static MEMBER_HASH_LEN], uint64_t height)
{
        size_t i, off = 0;

        out[off++] = ENROLL_VERSION;
        memcpy(out + off, r->region_id, 32);
        off += 32;
        memcpy(out + off, r->nonce, ENROLL_NONCE_LEN);
        off += ENROLL_NONCE_LEN;
        for (i = 0; i < 8; i++)
                out[off++] = (uint8_t)(height >> (56 - 8 * i));
        memcpy(out + off, add_hash, MEMBER_HASH_LEN);
}

static void enroll_reply_bound(uint8_t out[static MEMBER_HASH_LEN + IDENTITY_ID_LEN + 64],
                               const struct enroll_request *r)
{
        memcpy(out, r->genesis_hash, MEMBER_HASH_LEN);
        memcpy(out + MEMBER_HASH_LEN, r->device.device_id, IDENTITY_ID_LEN);
        memcpy(out + MEMBER_HASH_LEN + IDENTITY_ID_LEN, r->device.sign_pk, 32);
        memcpy(out + MEMBER_HASH_LEN + IDENTITY_ID_LEN + 32, r->device.box_pk, 32);
}

int enroll_reply_build(uint8_t out[static ENROLL_REPLY_LEN], const struct enroll_request *r,
                       const uint8_t s[static ENROLL_SECRET_LEN],
                       const uint8_t add_hash[static MEMBER_HASH_LEN], uint64_t add_height)
{
        uint8_t head[ENROLL_REPLY_LEN - ENROLL_MAC_LEN];
        uint8_t bound[MEMBER_HASH_LEN + IDENTITY_ID_LEN + 64];
        uint8_t mac[ENROLL_MAC_LEN];
        int rc;

        enroll_reply_head(head, r, add_hash, add_height);
        enroll_reply_bound(bound, r);
        rc = enroll_mac(mac, ENROLL_K_REPLY, s, r->region_id, head, sizeof(head), bound,
                        sizeof(bound));
        if (rc != 0)
                return rc;
        memcpy(out, head, sizeof(head));
        memcpy(out + sizeof(head), mac, ENROLL_MAC_LEN);
        return 0;
}

int enroll_reply_open(const uint8_t *buf, size_t len, const struct enroll_request *r,
                      const uint8_t s[static ENROLL_SECRET_LEN],
                      uint8_t add_hash[static MEMBER_HASH_LEN], uint64_t *add_height)
{
        uint8_t head[ENROLL_REPLY_LEN - ENROLL_MAC_LEN];
        uint8_t bound[MEMBER_HASH_LEN + IDENTITY_ID_LEN + 64];
        uint8_t mac[ENROLL_MAC_LEN];
        uint64_t height = 0;
        size_t i;
        int rc;

        if (len != ENROLL_REPLY_LEN || buf[0] != ENROLL_VERSION ||
            memcmp(buf + 1, r->region_id, 32) != 0 ||
            memcmp(buf + 33, r->nonce, ENROLL_NONCE_LEN) != 0)
                return -EBADMSG;
        for (i = 0; i < 8; i++)
                height = height << 8 | buf[33 + ENROLL_NONCE_LEN + i];
        if (height == 0)
                return -EBADMSG;
        enroll_reply_head(head, r, buf + 33 + ENROLL_NONCE_LEN + 8, height);
        enroll_reply_bound(bound, r);
        rc = enroll_mac(mac, ENROLL_K_REPLY, s, r->region_id, head, sizeof(head), bound,
                        sizeof(bound));
        if (rc != 0)
                return rc;
        if (!secmem_equal(mac, buf + sizeof(head), ENROLL_MAC_LEN))
                return -EKEYREJECTED;
        memcpy(add_hash, buf + 33 + ENROLL_NONCE_LEN + 8, MEMBER_HASH_LEN);
        *add_height = height;
        return 0;
}

/* ---- invite records ---- */

void enroll_invite_free(struct enroll_invite *inv)
{
        if (inv == NULL)
                return;
        secmem_free(inv->secret);
        free(inv);
}

static int enroll_invite_path(const char *regiondir, const uint8_t invite_id[static ENROLL_ID_LEN],
                              char *out, size_t outlen)
{
        char hex[2 * ENROLL_ID_LEN + 1];
        int n;

        hex_encode(hex, invite_id, ENROLL_ID_LEN);
        n = snprintf(out, outlen, "%s/%s/%s", regiondir, ENROLL_INVITES, hex);
        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Header of INV's record (FORMAT-keyring.md "Invite record") into OUT; returns its length. */
static size_t enroll_invite_header(uint8_t out[static ENROLL_INVITE_HEADER_MAX],
                                   const struct enroll_invite *inv)
{
        size_t off = 0, i, olen = strlen(inv->owner);

        assert(olen <= MEMBER_NAME_MAX);
        memcpy(out, ENROLL_INVITE_MAGIC, ENROLL_INVITE_MAGIC_LEN);
        off += ENROLL_INVITE_MAGIC_LEN;
        out[off++] = ENROLL_INVITE_VERSION;
        out[off++] = inv->state;
        memcpy(out + off, inv->region_id, 32);
        off += 32;
        memcpy(out + off, inv->invite_id, ENROLL_ID_LEN);
        off += ENROLL_ID_LEN;
        for (i = 0; i < 8; i++)
                out[off++] = (uint8_t)(inv->created >> (56 - 8 * i));
        for (i = 0; i < 8; i++)
                out[off++] = (uint8_t)(inv->expires >> (56 - 8 * i));
        out[off++] = inv->role;
        for (i = 0; i < 4; i++)
                out[off++] = (uint8_t)(olen >> (24 - 8 * i));
        memcpy(out + off, inv->owner, olen);
        return off + olen;
}

static int enroll_seal_key(uint8_t *k, const uint8_t local_key[static 32],
                           const uint8_t region_id[static 32])
{
        return kdf_derive(k, 32, local_key, "invite-seal", region_id, 32);
}

/* Writes INV's record (sealing INV->secret when OPEN); EXCL as fileio_write_atomic. */
static int enroll_invite_write(const char *regiondir, const struct enroll_invite *inv,
                               const uint8_t *local_key, int excl)
{
        uint8_t buf[ENROLL_INVITE_HEADER_MAX + ENROLL_INVITE_SEALED];
        char path[PATH_MAX], dir[PATH_MAX];
        uint8_t *k = NULL;
        size_t hlen, len;
        int rc;

        rc = enroll_invite_path(regiondir, inv->invite_id, path, sizeof(path));
        if (rc != 0)
                return rc;
        if (snprintf(dir, sizeof(dir), "%s/%s", regiondir, ENROLL_INVITES) >= (int)sizeof(dir))
                return -ENAMETOOLONG;
        hlen = len = enroll_invite_header(buf, inv);
        if (inv->state == ENROLL_INVITE_OPEN) {
                k = secmem_alloc(32);
                if (k == NULL)
                        return -ENOMEM;
                rc = enroll_seal_key(k, local_key, inv->region_id);
                if (rc == 0)
                        rc = aead_seal(buf + hlen, k, buf, hlen, inv->secret, ENROLL_SECRET_LEN);
                secmem_free(k);
                if (rc != 0)
                        return rc;
                len += ENROLL_INVITE_SEALED;
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return -errno;
        return fileio_write_atomic(path, buf, len, 0600, excl);
}

int enroll_invite_create(const char *regiondir, const uint8_t local_key[static 32],
                         const uint8_t region_id[static 32],
                         const uint8_t genesis_hash[static MEMBER_HASH_LEN], uint64_t now,
                         uint64_t expires, uint8_t role, const char *owner, char *code,
                         size_t codelen, uint8_t invite_id[static ENROLL_ID_LEN])
{
        struct enroll_invite inv;
        char tmp[ENROLL_CODE_MAX];
        int rc;

        if (expires <= now || expires - now > ENROLL_MAX_LIFETIME || role < MEMBER_ROLE_READER ||
            role > MEMBER_ROLE_ADMIN || !member_name_valid(owner))
                return -EINVAL;
        memset(&inv, 0, sizeof(inv));
        memcpy(inv.region_id, region_id, 32);
        inv.created = now;
        inv.expires = expires;
        inv.role = role;
        snprintf(inv.owner, sizeof(inv.owner), "%s", owner);
        inv.state = ENROLL_INVITE_OPEN;
        inv.secret = secmem_alloc(ENROLL_SECRET_LEN);
        if (inv.secret == NULL)
                return -ENOMEM;
        secmem_random(inv.secret, ENROLL_SECRET_LEN);
        rc = enroll_invite_id(inv.invite_id, inv.secret, region_id);
        if (rc == 0)
                rc = enroll_code_encode(tmp, sizeof(tmp), inv.secret, region_id, genesis_hash);
        if (rc == 0 && strlen(tmp) >= codelen)
                rc = -ENOSPC;
        if (rc == 0)
                rc = enroll_invite_write(regiondir, &inv, local_key, 1);
        if (rc == 0) {
                snprintf(code, codelen, "%s", tmp);
                memcpy(invite_id, inv.invite_id, ENROLL_ID_LEN);
        }
        secmem_wipe(tmp, sizeof(tmp));
        secmem_free(inv.secret);
        return rc;
}

/*
 * Parses record BUF (LEN bytes, untrusted) of invite INVITE_ID into INV
 * (secret not opened); *HLEN = the header's length (the seal's AD).
 */
static int enroll_invite_parse(const uint8_t *buf, size_t len, const uint8_t region_id[static 32],
                               const uint8_t invite_id[static ENROLL_ID_LEN],
                               struct enroll_invite *inv, size_t *hlen)
{
        const uint8_t *owner = NULL;
        size_t olen = 0;
        struct dec d;

        if (len < ENROLL_INVITE_MAGIC_LEN ||
            memcmp(buf, ENROLL_INVITE_MAGIC, ENROLL_INVITE_MAGIC_LEN) != 0)
                return -EBADMSG;
        dec_init(&d, buf + ENROLL_INVITE_MAGIC_LEN, len - ENROLL_INVITE_MAGIC_LEN);
        if (dec_u8(&d) != ENROLL_INVITE_VERSION)
                return -EBADMSG;
        inv->state = dec_u8(&d);
        dec_fixed(&d, inv->region_id, 32);
        dec_fixed(&d, inv->invite_id, ENROLL_ID_LEN);
        inv->created = dec_u64(&d);
        inv->expires = dec_u64(&d);
        inv->role = dec_u8(&d);
        dec_var(&d, &owner, &olen, MEMBER_NAME_MAX);
        if (d.err != 0)
                return -EBADMSG;
        memcpy(inv->owner, owner, olen);
        inv->owner[olen] = '\0';
        *hlen = ENROLL_INVITE_MAGIC_LEN + d.off;
        if (inv->state > ENROLL_INVITE_VOID || inv->role < MEMBER_ROLE_READER ||
            inv->role > MEMBER_ROLE_ADMIN || strlen(inv->owner) != olen ||
            !member_name_valid(inv->owner) || memcmp(inv->region_id, region_id, 32) != 0 ||
            memcmp(inv->invite_id, invite_id, ENROLL_ID_LEN) != 0)
                return -EBADMSG;
        if (len != *hlen + (inv->state == ENROLL_INVITE_OPEN ? ENROLL_INVITE_SEALED : 0))
                return -EBADMSG;
        return 0;
}

/* Opens the sealed secret of an OPEN record BUF (header HLEN bytes) into INV->secret. */
static int enroll_invite_open(const uint8_t *buf, size_t hlen, const uint8_t local_key[static 32],
                              struct enroll_invite *inv)
{
        uint8_t *k = secmem_alloc(32);
        uint8_t id[ENROLL_ID_LEN];
        int rc;

        inv->secret = secmem_alloc(ENROLL_SECRET_LEN);
        if (k == NULL || inv->secret == NULL) {
                secmem_free(k);
                return -ENOMEM;
        }
        rc = enroll_seal_key(k, local_key, inv->region_id);
        if (rc == 0)
                rc = aead_open(inv->secret, k, buf, hlen, buf + hlen, ENROLL_INVITE_SEALED);
        if (rc == 0)
                rc = enroll_invite_id(id, inv->secret, inv->region_id);
        if (rc == 0 && memcmp(id, inv->invite_id, ENROLL_ID_LEN) != 0)
                rc = -EBADMSG;
        secmem_free(k);
        return rc == -ENOMEM ? rc : rc != 0 ? -EBADMSG : 0;
}

int enroll_invite_load(const char *regiondir, const uint8_t local_key[static 32],
                       const uint8_t region_id[static 32],
                       const uint8_t invite_id[static ENROLL_ID_LEN], struct enroll_invite **out)
{
        struct enroll_invite *inv;
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0, hlen = 0;
        int rc;

        rc = enroll_invite_path(regiondir, invite_id, path, sizeof(path));
        if (rc != 0)
                return rc;
        rc = fileio_read_all(path, ENROLL_INVITE_MAX, &buf, &len);
        if (rc == -EFBIG || rc == -EINVAL)
                rc = -EBADMSG;
        if (rc != 0)
                return rc;
        inv = calloc(1, sizeof(*inv));
        if (inv == NULL) {
                free(buf);
                return -ENOMEM;
        }
        rc = enroll_invite_parse(buf, len, region_id, invite_id, inv, &hlen);
        if (rc == 0 && inv->state == ENROLL_INVITE_OPEN)
                rc = enroll_invite_open(buf, hlen, local_key, inv);
        free(buf);
        if (rc == -EBADMSG)
                log_err("%s: corrupt invite record", path);
        if (rc != 0) {
                enroll_invite_free(inv);
                return rc;
        }
        *out = inv;
        return 0;
}

int enroll_invite_usable(const struct enroll_invite *inv, uint64_t now)
{
        if (inv->state == ENROLL_INVITE_USED)
                return -EALREADY;
        if (inv->state == ENROLL_INVITE_VOID)
                return -ECANCELED;
        if (now >= inv->expires || inv->secret == NULL)
                return -ETIME;
        return 0;
}

int enroll_invite_burn(const char *regiondir, struct enroll_invite *inv, uint8_t state)
{
        struct enroll_invite t = *inv;
        int rc;

        if (state != ENROLL_INVITE_USED && state != ENROLL_INVITE_VOID)
                return -EINVAL;
        t.state = state;
        t.secret = NULL;
        rc = enroll_invite_write(regiondir, &t, NULL, 0);
        if (rc != 0)
                return rc;
        inv->state = state;
        secmem_free(inv->secret);
        inv->secret = NULL;
        return 0;
}

int enroll_request_check(const char *regiondir, const uint8_t local_key[static 32],
                         const struct enroll_request *r, uint64_t now, struct enroll_invite **out)
{
        struct enroll_invite *inv = NULL;
        int rc;

        rc = enroll_invite_load(regiondir, local_key, r->region_id, r->invite_id, &inv);
        if (rc != 0)
                return rc;
        rc = enroll_invite_usable(inv, now);
        if (rc == 0) {
                rc = enroll_request_verify_mac(r, inv->secret);
                if (rc == -EKEYREJECTED) {
                        /* The first MAC failure voids the invite: a guess or a forgery. */
                        if (enroll_invite_burn(regiondir, inv, ENROLL_INVITE_VOID) != 0)
                                log_err("cannot void the invite after a failed MAC");
                }
        }
        if (rc != 0) {
                enroll_invite_free(inv);
                return rc;
        }
        *out = inv;
        return 0;
}

/* ---- offers and pairing words ---- */

int enroll_offer_key(const uint8_t region_id[static 32],
                     const uint8_t invite_id[static ENROLL_ID_LEN], char *out, size_t outlen)
{
        return enroll_key("invite", region_id, invite_id, ENROLL_ID_LEN, out, outlen);
}

/* The signed fields of O (FORMAT-keyring.md "Offer"). */
static void enroll_enc_offer(struct enc *en, const struct enroll_offer *o)
{
        enc_u8(en, ENROLL_VERSION);
        enc_fixed(en, o->region_id, 32);
        enc_fixed(en, o->invite_id, ENROLL_ID_LEN);
        enc_u64(en, o->expires);
        enc_fixed(en, o->approver, IDENTITY_ID_LEN);
        enc_u8(en, o->role);
        enc_var(en, o->owner, strlen(o->owner));
}

static int enroll_offer_fields_valid(const struct enroll_offer *o)
{
        return o->role >= MEMBER_ROLE_READER && o->role <= MEMBER_ROLE_ADMIN &&
               member_name_valid(o->owner);
}

int enroll_offer_build(const struct identity *id, const struct enroll_offer *fields,
                       struct enroll_offer *out)
{
        struct enroll_offer o = *fields;
        struct enc en;
        int rc;

        if (id->sign_sk == NULL || !enroll_offer_fields_valid(&o) ||
            memcmp(o.approver, id->device_id, IDENTITY_ID_LEN) != 0)
                return -EINVAL;
        enc_init(&en);
        enroll_enc_offer(&en, &o);
        rc = enc_error(&en);
        if (rc == 0)
                rc = sig_sign(o.sig, id->sign_sk, ENROLL_OFFER_SIG_TYPE, en.buf, en.len);
        if (rc == 0) {
                enc_fixed(&en, o.sig, MEMBER_SIG_LEN);
                rc = enc_error(&en);
        }
        if (rc == 0 && en.len > ENROLL_OFFER_MAX)
                rc = -EINVAL;
        if (rc == 0) {
                memcpy(o.raw, en.buf, en.len);
                o.raw_len = en.len;
                *out = o;
        }
        enc_release(&en);
        return rc;
}

int enroll_offer_decode(const uint8_t *buf, size_t len, struct enroll_offer *out)
{
        struct enroll_offer o;
        const uint8_t *owner = NULL;
        size_t olen = 0;
        struct dec d;

        if (len > ENROLL_OFFER_MAX)
                return -EBADMSG;
        memset(&o, 0, sizeof(o));
        dec_init(&d, buf, len);
        if (dec_u8(&d) != ENROLL_VERSION)
                return -EBADMSG;
        dec_fixed(&d, o.region_id, 32);
        dec_fixed(&d, o.invite_id, ENROLL_ID_LEN);
        o.expires = dec_u64(&d);
        dec_fixed(&d, o.approver, IDENTITY_ID_LEN);
        o.role = dec_u8(&d);
        dec_var(&d, &owner, &olen, MEMBER_NAME_MAX);
        if (d.err != 0)
                return -EBADMSG;
        memcpy(o.owner, owner, olen);
        o.owner[olen] = '\0';
        dec_fixed(&d, o.sig, MEMBER_SIG_LEN);
        if (dec_finish(&d) != 0 || strlen(o.owner) != olen || !enroll_offer_fields_valid(&o))
                return -EBADMSG;
        memcpy(o.raw, buf, len);
        o.raw_len = len;
        *out = o;
        return 0;
}

int enroll_offer_verify(const struct enroll_offer *o, const struct member_device *approver)
{
        if (o->raw_len < MEMBER_SIG_LEN || o->raw_len > ENROLL_OFFER_MAX ||
            memcmp(o->approver, approver->device_id, IDENTITY_ID_LEN) != 0)
                return -EBADMSG;
        return sig_verify(o->sig, approver->sign_pk, ENROLL_OFFER_SIG_TYPE, o->raw,
                          o->raw_len - MEMBER_SIG_LEN) == 0
                   ? 0
                   : -EBADMSG;
}

int enroll_pairing_words(char *out, size_t outlen, const uint8_t region_id[static 32],
                         const uint8_t invite_id[static ENROLL_ID_LEN],
                         const struct member_device *approver, const struct member_device *newdev,
                         const char *owner, uint8_t role)
{
        static const char domain[] = "sealsync/v1/pairing"; /* + its NUL */
        size_t olen = strlen(owner);
        uint8_t tail[1 + 4], h[32];
        const struct hash_part parts[] = {
            {domain, sizeof(domain)},
            {region_id, 32},
            {invite_id, ENROLL_ID_LEN},
            {approver->device_id, IDENTITY_ID_LEN},
            {approver->sign_pk, 32},
            {approver->box_pk, 32},
            {newdev->device_id, IDENTITY_ID_LEN},
            {newdev->sign_pk, 32},
            {newdev->box_pk, 32},
            {tail, sizeof(tail)},
            {owner, olen},
        };
        int rc;

        if (olen > MEMBER_NAME_MAX)
                return -EINVAL;
        tail[0] = role;
        tail[1] = (uint8_t)(olen >> 24);
        tail[2] = (uint8_t)(olen >> 16);
        tail[3] = (uint8_t)(olen >> 8);
        tail[4] = (uint8_t)olen;
        rc = hash_parts(h, sizeof(h), NULL, 0, parts, sizeof(parts) / sizeof(parts[0]));
        if (rc == 0)
                rc = words_encode(out, outlen, h, sizeof(h), ENROLL_PAIRING_WORDS, ' ');
        return rc;
}

const char *enroll_status_name(int rc)
{
        switch (rc) {
        case 0:
                return "valid";
        case -ENOENT:
                return "unknown-invite";
        case -ETIME:
                return "expired";
        case -EALREADY:
                return "used";
        case -ECANCELED:
                return "void";
        case -EKEYREJECTED:
                return "bad-mac";
        case -EBADMSG:
                return "bad-signature";
        default:
                return "error";
        }
}
