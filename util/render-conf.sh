#!/usr/bin/env bash
# Render a configuration example into a runnable nginx.conf.
#
#   util/render-conf.sh TEMPLATE OUTPUT MODULE_SO PREFIX
#
# nginx does not read the environment in its configuration, so secrets
# given as environment variables are written into the rendered file
# (mode 600).  Placeholders:
#   @MODULE@          path of ngx_llm_gateway_module.so
#   @PREFIX@          nginx prefix (logs, temp files)
#   @PORT@            $PORT, default 8080
#   @LISTEN@          $LISTEN, the listen address, default 127.0.0.1
#   @RESOLVER@        first nameserver of /etc/resolv.conf
#   @HF_KEYS@         key=... for each key in $HF_TOKEN / $HF_TOKENS
#   @HF_ROUTER_URL@   $HF_ROUTER_URL, default https://router.huggingface.co
#   @GEMINI_KEYS@     key=... for each key in $GEMINI_API_KEY / $GEMINI_API_KEYS
#   @GEMINI_URL@      $GEMINI_URL, default
#                     https://generativelanguage.googleapis.com
#   @GATEWAY_AUTH@    token=... for each token in $GATEWAY_TOKENS, or off
#   @ADMIN_AUTH@      token=... for each token in $ADMIN_TOKENS, or off
set -euo pipefail

template=$1 output=$2 module=$3 prefix=$4

# a value goes into the file inside double quotes: refuse what would
# break out of them
check() {
    case "$1" in
        *[[:space:]\"\\\;\$\{\}]*)
            echo "render-conf: refusing a value with spaces, quotes, ;, \$ or braces in $2" >&2
            exit 1 ;;
    esac
}

params() {  # params PREFIX LIST -> "PREFIX=a" "PREFIX=b"
    local out="" v
    for v in $(printf '%s' "$2" | tr ',' ' '); do
        check "$v" "$3"
        out="$out \"$1=$v\""
    done
    printf '%s' "${out# }"
}

hf_keys=$(params key "${HF_TOKEN:-} ${HF_TOKENS:-}" HF_TOKEN)
[ -n "$hf_keys" ] || hf_keys='key='

gemini_keys=$(params key "${GEMINI_API_KEY:-} ${GEMINI_API_KEYS:-}" GEMINI_API_KEY)
[ -n "$gemini_keys" ] || gemini_keys='key='

auth=$(params token "${GATEWAY_TOKENS:-}" GATEWAY_TOKENS)
[ -n "$auth" ] || auth=off

admin=$(params token "${ADMIN_TOKENS:-}" ADMIN_TOKENS)
[ -n "$admin" ] || admin=off

resolver=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf 2>/dev/null || true)
case "$resolver" in
    *:*) resolver="[$resolver]" ;;
    "") resolver=127.0.0.1 ;;
esac

hf_url=${HF_ROUTER_URL:-https://router.huggingface.co}
check "$hf_url" HF_ROUTER_URL
gemini_url=${GEMINI_URL:-https://generativelanguage.googleapis.com}
check "$gemini_url" GEMINI_URL
port=${PORT:-8080}
check "$port" PORT
listen=${LISTEN:-127.0.0.1}
check "$listen" LISTEN

mkdir -p "$(dirname "$output")" "$prefix/logs" "$prefix/temp"
umask 077
sed -e "s|@MODULE@|$module|g" \
    -e "s|@PREFIX@|$prefix|g" \
    -e "s|@PORT@|$port|g" \
    -e "s|@LISTEN@|$listen|g" \
    -e "s|@RESOLVER@|$resolver|g" \
    -e "s|@HF_ROUTER_URL@|$hf_url|g" \
    -e "s|@HF_KEYS@|$hf_keys|g" \
    -e "s|@GEMINI_URL@|$gemini_url|g" \
    -e "s|@GEMINI_KEYS@|$gemini_keys|g" \
    -e "s|@GATEWAY_AUTH@|$auth|g" \
    -e "s|@ADMIN_AUTH@|$admin|g" \
    "$template" > "$output"
