# ngx_llm_gateway: build, run and test.
#
#   make            build build/ngx_llm_gateway_module.so for the installed nginx
#   make run        start the gateway on 127.0.0.1:8080 (foreground)
#   make test       run the test suite
#
# NGINX_SRC=/path/to/nginx-1.x.y builds against another nginx source tree
# (--with-compat).  See docs/testing.md for every target.

SHELL        := /bin/bash
TOP          := $(CURDIR)
BUILD        := $(TOP)/build
MODULE       := $(BUILD)/ngx_llm_gateway_module.so
SOURCES      := $(wildcard ngx_llm_gateway_module/*.c ngx_llm_gateway_module/*.h) config

NGINX        ?= /usr/sbin/nginx
DEBIAN_SRC   := /usr/share/nginx/src
NGINX_SRC    ?=

# compiled as Debian compiles its nginx (nginx -V): nginx-dev's configure
# flags leave them out, and nginx's own default is -O
MODULE_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
                 -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2

# the nginx versions fetched from Debian for the ASan build and the
# newer-nginx build check
NGINX_OLD    := 1.22.1
NGINX_NEW    := 1.26.3
NEW_DEB      := 1.26.3-3+deb13u10
SRC_CACHE    := $(BUILD)/src

RUN_DIR      := $(BUILD)/run
NPM_DIR      := $(BUILD)/node
PROVE        ?= prove
PROVE_FLAGS  ?= -r
TESTS        ?= t

DEB_PKGS     := nginx nginx-dev libcurl4-openssl-dev libyajl-dev libssl-dev \
                libpcre2-dev zlib1g-dev gcc make perl python3 curl \
                libtest-base-perl libtest-longstring-perl \
                liblist-moreutils-perl libtext-diff-perl \
                libhttp-message-perl tini dpkg-dev binutils
DEB_EXTRA    := valgrind wrk

export TEST_NGINX_BINARY       ?= $(NGINX)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)

# the project's own Test::Nginx::Socket, only when the real one is missing
REAL_TN := $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null && echo yes)
ifneq ($(REAL_TN),yes)
TEST_PERL5LIB := $(TOP)/t/runner
endif

.PHONY: all deps deps-extra build run test unit fuzz test-valgrind test-asan \
        npm-deps check-conf build-new bench clean distclean

all: build

# ---------------------------------------------------------------- deps

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	        --no-install-recommends nodejs npm; }

deps-extra: deps
	@missing=""; \
	for p in $(DEB_EXTRA); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi

# ---------------------------------------------------------------- build

build: $(MODULE)

ifeq ($(NGINX_SRC),)

# Debian's nginx-dev: headers, configure and the flags the package used
$(MODULE): $(SOURCES) | deps
	rm -rf $(BUILD)/nginx && mkdir -p $(BUILD) && cp -a $(DEBIAN_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$(MODULE_CC_OPT)" \
	    --add-dynamic-module=$(TOP) \
	    > $(BUILD)/configure.log 2>&1 || { tail -30 $(BUILD)/configure.log; exit 1; }
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	@# a new file, renamed into place: a running nginx keeps the old one
	cp $(BUILD)/nginx/objs/ngx_llm_gateway_module.so $@.tmp && mv -f $@.tmp $@

else

$(MODULE): $(SOURCES)
	mkdir -p $(BUILD)
	cd $(NGINX_SRC) && ./configure --with-compat --with-http_ssl_module \
	    --with-cc-opt="$(MODULE_CC_OPT)" \
	    --add-dynamic-module=$(TOP) $(NGINX_CONFIGURE_FLAGS) \
	    > $(BUILD)/configure.log 2>&1 || { tail -30 $(BUILD)/configure.log; exit 1; }
	$(MAKE) -C $(NGINX_SRC) -f objs/Makefile modules
	cp $(NGINX_SRC)/objs/ngx_llm_gateway_module.so $@.tmp && mv -f $@.tmp $@

endif

# full nginx sources from Debian (pristine upstream tarballs)
$(SRC_CACHE)/nginx_%.orig.tar.gz:
	mkdir -p $(SRC_CACHE)
	@# Debian's source index, bookworm and trixie, unless apt already knows
	@# both versions
	@if ! apt-cache showsrc nginx 2>/dev/null | grep -q '^Version: $(NGINX_OLD)-' \
	   || ! apt-cache showsrc nginx 2>/dev/null | grep -q '^Version: $(NGINX_NEW)-'; then \
	    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	        | $(SUDO) tee /etc/apt/sources.list.d/ngx-llm-gateway-src.sources >/dev/null; \
	    $(SUDO) apt-get update -qq; \
	fi
	cd $(SRC_CACHE) && if [ "$*" = "$(NGINX_OLD)" ]; then \
	    apt-get source --download-only nginx=$$(apt-cache showsrc nginx \
	        | awk '/^Version: $*-/ { print $$2; exit }'); \
	else \
	    apt-get source --download-only nginx=$(NEW_DEB) || true; \
	    if [ ! -f nginx_$*.orig.tar.gz ]; then \
	        v=$$(apt-cache showsrc nginx | awk '/^Version: $*-/ { print $$2; exit }'); \
	        [ -z "$$v" ] || apt-get source --download-only nginx=$$v || true; \
	    fi; \
	fi
	test -f $@

$(SRC_CACHE)/nginx-%/configure: $(SRC_CACHE)/nginx_%.orig.tar.gz
	cd $(SRC_CACHE) && rm -rf nginx-$* && tar xzf nginx_$*.orig.tar.gz
	touch $@

# proves the module builds against a newer nginx with -Werror
build-new: $(SRC_CACHE)/nginx-$(NGINX_NEW)/configure | deps
	cd $(SRC_CACHE)/nginx-$(NGINX_NEW) && ./configure --with-compat \
	    --with-http_ssl_module --add-dynamic-module=$(TOP) \
	    > $(BUILD)/configure-new.log 2>&1 || { tail -30 $(BUILD)/configure-new.log; exit 1; }
	$(MAKE) -C $(SRC_CACHE)/nginx-$(NGINX_NEW) -f objs/Makefile modules
	@echo "built against nginx $(NGINX_NEW): $(SRC_CACHE)/nginx-$(NGINX_NEW)/objs/ngx_llm_gateway_module.so"

# ---------------------------------------------------------------- run

run: build
	@mkdir -p $(RUN_DIR)/logs $(RUN_DIR)/conf
	@bash util/render-conf.sh conf-examples/quickstart.conf $(RUN_DIR)/conf/nginx.conf \
	    $(MODULE) $(RUN_DIR)
	$(NGINX) -p $(RUN_DIR) -c conf/nginx.conf -t -q
	@echo "ngx_llm_gateway on http://127.0.0.1:$${PORT:-8080} (Ctrl-C to stop)"
	exec $(NGINX) -p $(RUN_DIR) -c conf/nginx.conf -g 'daemon off;'

# ---------------------------------------------------------------- tests

npm-deps: | deps
	@if ! cmp -s t/js/package.json $(NPM_DIR)/package.json \
	   || [ ! -d $(NPM_DIR)/node_modules ]; then \
	    mkdir -p $(NPM_DIR) && cp t/js/package.json $(NPM_DIR)/ && \
	    cd $(NPM_DIR) && npm install --no-audit --no-fund --loglevel=error; \
	fi

# C unit tests of the parts that need no nginx, built against the headers
# of the tree the module was built in, with AddressSanitizer and UBSan
UNIT_TESTS   := gemini_scan_test
UNIT_DIR     := $(BUILD)/unit
UNIT_NGX     := $(if $(NGINX_SRC),$(NGINX_SRC),$(BUILD)/nginx)
UNIT_CFLAGS  := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
                -W -Wall -Wno-unused-parameter -Werror \
                $(addprefix -I$(UNIT_NGX)/,src/core src/event src/event/modules \
                    src/os/unix objs) -Ingx_llm_gateway_module

$(UNIT_DIR)/gemini_scan_test: t/unit/gemini_scan_test.c \
        ngx_llm_gateway_module/ngx_llm_gateway_gemini_scan.c \
        ngx_llm_gateway_module/ngx_llm_gateway_gemini_scan.h $(MODULE)
	@mkdir -p $(UNIT_DIR)
	$(CC) $(UNIT_CFLAGS) -o $@ t/unit/gemini_scan_test.c \
	    ngx_llm_gateway_module/ngx_llm_gateway_gemini_scan.c

unit: $(addprefix $(UNIT_DIR)/,$(UNIT_TESTS))
	@for t in $(UNIT_TESTS); do $(UNIT_DIR)/$$t || exit 1; done

test: build npm-deps unit
	NODE_PATH=$(NPM_DIR)/node_modules PERL5LIB=$(TEST_PERL5LIB) \
	    $(PROVE) $(PROVE_FLAGS) $(TESTS)

# every error or leak valgrind reports in the module fails the run
test-valgrind: build npm-deps deps-extra
	rm -f $(BUILD)/valgrind.log $(BUILD)/valgrind-stderr.log
	set -o pipefail; NODE_PATH=$(NPM_DIR)/node_modules PERL5LIB=$(TEST_PERL5LIB) \
	    TEST_NGINX_USE_VALGRIND=1 TEST_NGINX_VALGRIND_FAIL=1 \
	    TEST_NGINX_VALGRIND_LOG=$(BUILD)/valgrind.log TEST_NGINX_TIMEOUT=20 \
	    TEST_NGINX_SLEEP=0.5 $(PROVE) $(PROVE_FLAGS) $(TESTS) \
	    2> >(tee $(BUILD)/valgrind-stderr.log >&2)
	@# the real Test::Nginx prints valgrind's reports on stderr
	@if grep -hq '^==[0-9]*==' $(BUILD)/valgrind.log $(BUILD)/valgrind-stderr.log 2>/dev/null; then \
	    grep -h -A30 '^==[0-9]*==' $(BUILD)/valgrind.log $(BUILD)/valgrind-stderr.log | head -200; \
	    echo "valgrind reported errors"; exit 1; \
	fi
	@echo "valgrind: clean"

# nginx and the module built with AddressSanitizer and UBSan.
# detect_odr_violation=0: nginx's build defines ngx_module_names both in the
# binary and in every dynamic module.
ASAN_DIR   := $(BUILD)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1

$(ASAN_DIR)/sbin/nginx: $(SRC_CACHE)/nginx-$(NGINX_OLD)/configure $(SOURCES) | deps
	cd $(SRC_CACHE)/nginx-$(NGINX_OLD) && ./configure --prefix=$(ASAN_DIR) \
	    --with-compat --with-debug --with-http_ssl_module --with-pcre-jit \
	    --with-cc-opt="$(ASAN_FLAGS) -DNGX_DEBUG_PALLOC=1" \
	    --with-ld-opt="-fsanitize=address,undefined" \
	    --add-dynamic-module=$(TOP) > $(BUILD)/configure-asan.log 2>&1 \
	    || { tail -30 $(BUILD)/configure-asan.log; exit 1; }
	$(MAKE) -C $(SRC_CACHE)/nginx-$(NGINX_OLD) -f objs/Makefile
	$(MAKE) -C $(SRC_CACHE)/nginx-$(NGINX_OLD) -f objs/Makefile install >/dev/null
	cp $(SRC_CACHE)/nginx-$(NGINX_OLD)/objs/ngx_llm_gateway_module.so $(ASAN_DIR)/.tmp.so \
	    && mv -f $(ASAN_DIR)/.tmp.so $(ASAN_DIR)/ngx_llm_gateway_module.so

test-asan: $(ASAN_DIR)/sbin/nginx npm-deps
	rm -f $(BUILD)/asan.log*
	NODE_PATH=$(NPM_DIR)/node_modules PERL5LIB=$(TEST_PERL5LIB) \
	    TEST_NGINX_BINARY=$(ASAN_DIR)/sbin/nginx \
	    TEST_NGINX_LOAD_MODULES=$(ASAN_DIR)/ngx_llm_gateway_module.so \
	    ASAN_OPTIONS=detect_leaks=1:detect_odr_violation=0:log_path=$(BUILD)/asan.log \
	    UBSAN_OPTIONS=print_stacktrace=1:suppressions=$(TOP)/t/ubsan.suppress:log_path=$(BUILD)/asan.log \
	    LSAN_OPTIONS=suppressions=$(TOP)/t/lsan.suppress \
	    $(PROVE) $(PROVE_FLAGS) $(TESTS)
	@# every finding fails the run, but for nginx's own exit on a bad config
	perl util/sanitizer-report.pl $$(ls $(BUILD)/asan.log.* 2>/dev/null)

# the fuzz targets of t/fuzz: the Gemini scanner against yajl (with the
# unit-test flags), and the translators linked with the AddressSanitizer
# nginx tree's objects (nginx.o's main renamed away); FUZZ_ITERATIONS
# mutations each, from seeds made of t/fixtures
FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_ITERATIONS ?= 200000
FUZZ_SEED       ?= 1
ASAN_TREE       := $(SRC_CACHE)/nginx-$(NGINX_OLD)
ASAN_INCS       := $(addprefix -I$(ASAN_TREE)/,src/core src/event \
                       src/event/modules src/os/unix objs src/http \
                       src/http/modules src/http/v2) -Ingx_llm_gateway_module
FUZZ_LIBS       := -lpcre2-8 -lssl -lcrypto -lz -lcurl -lyajl -lcrypt \
                   -lpthread -ldl

$(FUZZ_DIR)/fuzz_gemini_scan: t/fuzz/fuzz_gemini_scan.c t/fuzz/driver.c \
        ngx_llm_gateway_module/ngx_llm_gateway_gemini_scan.c \
        ngx_llm_gateway_module/ngx_llm_gateway_gemini_scan.h $(MODULE)
	@mkdir -p $(FUZZ_DIR)
	$(CC) $(UNIT_CFLAGS) -o $@ t/fuzz/fuzz_gemini_scan.c t/fuzz/driver.c \
	    ngx_llm_gateway_module/ngx_llm_gateway_gemini_scan.c -lyajl

$(FUZZ_DIR)/fuzz_translators: t/fuzz/fuzz_translators.c t/fuzz/driver.c \
        $(ASAN_DIR)/sbin/nginx
	@mkdir -p $(FUZZ_DIR)
	objcopy --redefine-sym main=ngx_fuzz_nginx_main \
	    $(ASAN_TREE)/objs/src/core/nginx.o $(FUZZ_DIR)/nginx.o
	$(CC) $(ASAN_FLAGS) -fno-sanitize-recover=all -D_GNU_SOURCE \
	    -W -Wall -Wno-unused-parameter -Werror $(ASAN_INCS) \
	    -o $@ t/fuzz/fuzz_translators.c t/fuzz/driver.c $(FUZZ_DIR)/nginx.o \
	    $$(find $(ASAN_TREE)/objs/src -name '*.o' ! -name nginx.o) \
	    $(ASAN_TREE)/objs/ngx_modules.o \
	    $(ASAN_TREE)/objs/addon/ngx_llm_gateway_module/*.o $(FUZZ_LIBS)

fuzz: $(FUZZ_DIR)/fuzz_gemini_scan $(FUZZ_DIR)/fuzz_translators
	bash t/fuzz/corpus.sh $(FUZZ_DIR)/corpus
	cd $(FUZZ_DIR) && ./fuzz_gemini_scan -s $(FUZZ_SEED) \
	    -n $(FUZZ_ITERATIONS) corpus/scan
	cd $(FUZZ_DIR) && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    ./fuzz_translators -s $(FUZZ_SEED) -n $(FUZZ_ITERATIONS) \
	    corpus/translators

# every configuration example must pass nginx -t
check-conf: build
	@for f in conf-examples/*.conf; do \
	    d=$$(mktemp -d); mkdir -p $$d/conf $$d/logs; \
	    bash util/render-conf.sh $$f $$d/conf/nginx.conf $(MODULE) $$d || exit 1; \
	    $(NGINX) -p $$d -c conf/nginx.conf -t -q || { echo "FAILED: $$f"; exit 1; }; \
	    echo "ok: nginx -t $$f"; rm -rf $$d; \
	done

# ---------------------------------------------------------------- bench

bench: build deps-extra
	bash bench/run.sh

clean:
	rm -rf $(BUILD)/nginx $(MODULE) t/servroot*

distclean:
	rm -rf $(BUILD) t/servroot*
