# ngx_llm_gateway in a container: the same steps as on a Debian 12 machine
# ("make deps build", then "make run").
#
#   docker build -t ngx-llm-gateway .
#   docker run --rm -p 8080:8080 \
#       -e HF_TOKEN=hf_xxx -e GATEWAY_TOKENS=my-client-token ngx-llm-gateway
#
# Environment, read by "make run" (util/render-conf.sh) when the container
# starts; secrets are written into build/run/conf/nginx.conf (mode 600):
#
#   HF_TOKEN        Hugging Face token(s), comma-separated (HF_TOKENS too)
#   GATEWAY_TOKENS  client tokens, comma-separated; unset: no client auth
#   PORT            listen port, default 8080
#   HF_ROUTER_URL   default https://router.huggingface.co
#
#   LISTEN          listen address; the image sets 0.0.0.0 so the port can
#                   be published: set GATEWAY_TOKENS whenever it is
#
FROM debian:bookworm

WORKDIR /src
COPY . .

# make itself is the one thing "make deps" cannot install; a build directory
# copied from the host is dropped so the module is built for this image
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           --no-install-recommends make ca-certificates \
    && rm -rf build t/servroot* \
    && make deps build \
    && rm -rf /var/lib/apt/lists/*

ENV PORT=8080 LISTEN=0.0.0.0
EXPOSE 8080

# tini (installed by "make deps") forwards signals to make and nginx
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["make", "run"]
