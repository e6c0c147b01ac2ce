
/*
 * Upstream API keys and client tokens as read from the configuration.
 *
 * A key is identified everywhere (logs, variables, status) by a digest:
 * the secret itself only ever leaves configuration memory in the header
 * of the subrequest that carries it upstream.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include "ngx_llm_gateway_module.h"


#define NGX_LLM_GATEWAY_SECRETS_MAX  (1024 * 1024)


void
ngx_llm_gateway_digest(ngx_str_t *in, u_char *out)
{
    unsigned int  len;

    len = NGX_LLM_GATEWAY_DIGEST_LEN;

    if (EVP_Digest(in->data, in->len, out, &len, EVP_sha256(), NULL) != 1) {
        ngx_memzero(out, NGX_LLM_GATEWAY_DIGEST_LEN);
    }
}


/*
 * One secret per line; blank lines and "#" comments are skipped.  The
 * first word is the secret; the rest of the line goes to "rest" (if not
 * NULL, one element per secret) for attributes such as "group=...".
 */

ngx_int_t
ngx_llm_gateway_read_secrets(ngx_conf_t *cf, ngx_str_t *file,
    ngx_array_t *out, ngx_array_t *rest)
{
    u_char           *buf, *p, *last, *eol, *end;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         name, *s;
    ngx_file_info_t   fi;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_ERROR;
    }

    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &name);
        goto failed;
    }

    if (ngx_file_size(&fi) > NGX_LLM_GATEWAY_SECRETS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "file \"%V\" is too large", &name);
        goto failed;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", &name);
        goto failed;
    }

    (void) ngx_close_file(fd);

    p = buf;
    last = buf + n;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        while (p < eol && (*p == ' ' || *p == '\t')) {
            p++;
        }

        for (end = p; end < eol; end++) {
            if (*end == ' ' || *end == '\t' || *end == '\r') {
                break;
            }
        }

        if (end > p && *p != '#') {
            s = ngx_array_push(out);
            if (s == NULL) {
                return NGX_ERROR;
            }

            s->len = end - p;
            s->data = ngx_pnalloc(cf->pool, s->len);
            if (s->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(s->data, p, s->len);

            if (rest) {
                s = ngx_array_push(rest);
                if (s == NULL) {
                    return NGX_ERROR;
                }

                s->len = eol - end;
                s->data = ngx_pnalloc(cf->pool, s->len + 1);
                if (s->data == NULL) {
                    return NGX_ERROR;
                }

                ngx_memcpy(s->data, end, s->len);
            }
        }

        p = eol + 1;
    }

    /* the copy in temp_pool is wiped: secrets do not linger in memory */

    ngx_explicit_memzero(buf, n);

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


/*
 * A keys file: "KEY [group=name] [weight=n] [bind=address] [# ...]" per
 * line; other words are free text.
 */

ngx_int_t
ngx_llm_gateway_keys_load(ngx_conf_t *cf,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_str_t *file)
{
    ngx_str_t    *s, *r;
    ngx_uint_t    i;
    ngx_array_t   secrets, rest;

    if (ngx_array_init(&secrets, cf->temp_pool, 8, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&rest, cf->temp_pool, 8, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_llm_gateway_read_secrets(cf, file, &secrets, &rest) != NGX_OK) {
        return NGX_ERROR;
    }

    s = secrets.elts;
    r = rest.elts;

    for (i = 0; i < secrets.nelts; i++) {
        if (ngx_llm_gateway_key_add(cf, pcf, &s[i], &r[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the attributes after a key in a keys file */

static ngx_int_t
ngx_llm_gateway_key_attrs(ngx_conf_t *cf, ngx_llm_gateway_key_t *key,
    ngx_str_t *attrs)
{
    u_char     *p, *last, *end;
    ngx_int_t   n;
    ngx_str_t   word;

    p = attrs->data;
    last = p + attrs->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        for (end = p; end < last; end++) {
            if (*end == ' ' || *end == '\t' || *end == '\r') {
                break;
            }
        }

        word.data = p;
        word.len = end - p;
        p = end;

        if (word.len == 0) {
            continue;
        }

        if (word.data[0] == '#') {
            break;
        }

        if (word.len > 6 && ngx_strncmp(word.data, "group=", 6) == 0) {
            key->group.data = word.data + 6;
            key->group.len = word.len - 6;
            continue;
        }

        if (word.len > 7 && ngx_strncmp(word.data, "weight=", 7) == 0) {
            n = ngx_atoi(word.data + 7, word.len - 7);

            if (n == NGX_ERROR || n < 1 || n > 100) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "key \"%V\": \"weight\" must be 1 to 100",
                                   &key->masked);
                return NGX_ERROR;
            }

            key->weight = n;
            continue;
        }

        if (word.len > 5 && ngx_strncmp(word.data, "bind=", 5) == 0) {
            key->bind.data = word.data + 5;
            key->bind.len = word.len - 5;
            continue;
        }

        /* anything else is a comment */
    }

    return NGX_OK;
}


ngx_int_t
ngx_llm_gateway_key_add(ngx_conf_t *cf, ngx_llm_gateway_provider_conf_t *pcf,
    ngx_str_t *secret, ngx_str_t *attrs)
{
    u_char                 *p;
    ngx_uint_t              i;
    ngx_llm_gateway_key_t  *key;

    key = pcf->keys.elts;

    for (i = 0; i < pcf->keys.nelts; i++) {
        if (key[i].secret.len == secret->len
            && ngx_memcmp(key[i].secret.data, secret->data, secret->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "duplicate key \"%V\" of provider \"%V\" "
                               "ignored", &key[i].masked, &pcf->name);
            return NGX_OK;
        }
    }

    key = ngx_array_push(&pcf->keys);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_llm_gateway_key_t));

    key->secret = *secret;

    ngx_llm_gateway_digest(secret, key->digest);
    ngx_hex_dump(key->id, key->digest, NGX_LLM_GATEWAY_KEY_ID_LEN / 2);

    /* "hf_a...wxyz": enough for a person to tell keys apart */

    key->masked.data = ngx_pnalloc(cf->pool, 4 + 3 + 4);
    if (key->masked.data == NULL) {
        return NGX_ERROR;
    }

    if (secret->len >= 16) {
        p = ngx_cpymem(key->masked.data, secret->data, 4);
        p = ngx_cpymem(p, "...", 3);
        p = ngx_cpymem(p, secret->data + secret->len - 4, 4);

    } else {
        p = ngx_cpymem(key->masked.data, "***", 3);
    }

    key->masked.len = p - key->masked.data;
    key->weight = 1;

    if (attrs && ngx_llm_gateway_key_attrs(cf, key, attrs) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
