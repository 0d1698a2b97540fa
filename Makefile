# ngx_mail_track_module
#
#   make            the module (.so, for Debian's /usr/sbin/nginx) and the tool
#   make run        the demo on 127.0.0.1:8080 (make stop stops it)
#   make test       unit tests, the nginx tests, a short run of each fuzzer
#   make bench      wrk against the module, next to empty_gif and return 302
#   make bench-load a million events into SQLite, PostgreSQL and ClickHouse
#   make bench-callgrind   instructions per request of the same measures
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (60)
#   make deb        the Debian packages, in build/deb/
#   make test-deb   builds, installs, exercises and purges them (root)
#   make asan       the module, tool and unit tests with ASan + UBSan
#                   (in build-asan/), then every test with them
#   make soak       minutes of load, reloads, upgrades, kills, a full disk
#                   (root), then a shorter run with the sanitizers
#
#   make NGINX_SRC=/path/to/nginx-1.x.y   builds against another source tree

NGINX_SRC     ?= /usr/share/nginx/src
NGINX_BIN     ?= /usr/sbin/nginx
BUILD         ?= build
FUZZ_SECONDS  ?= 60
FUZZ_REGRESS_SECONDS ?= 1
PROVE_JOBS    ?= 2
V             ?= 0
Q              = $(if $(filter 1,$(V)),,@)

CC            ?= gcc
CXX           ?= g++
CFLAGS        ?= -g -O2
WARN          := -Wall -Wextra -Werror
CORE_DIR      := ngx_mail_track_module/core
CPPFLAGS_MT   := -I$(CORE_DIR) -D_GNU_SOURCE
LIBS_CORE     := $(shell pkg-config --libs msgpack 2>/dev/null \
                   || pkg-config --libs msgpack-c 2>/dev/null \
                   || echo -lmsgpackc) -lsimdjson -lstdc++ -lcrypto
LIBS_TOOL     := $(LIBS_CORE) -lsqlite3 -lpq -lcurl -pthread
CFLAGS_TOOL   := $(shell pkg-config --cflags libpq 2>/dev/null \
                   || echo -I/usr/include/postgresql)

CORE_SRCS     := $(sort $(wildcard $(CORE_DIR)/*.c))
CORE_CXX_SRCS := $(sort $(wildcard $(CORE_DIR)/*.cpp))
CORE_HDRS     := $(wildcard $(CORE_DIR)/*.h)
CORE_OBJS     := $(patsubst $(CORE_DIR)/%.c,$(BUILD)/core/%.o,$(CORE_SRCS)) \
                 $(patsubst $(CORE_DIR)/%.cpp,$(BUILD)/core/%.o,\
                            $(CORE_CXX_SRCS))
GLUE_SRCS     := $(wildcard ngx_mail_track_module/*.c \
                            ngx_mail_track_module/*.h)
TOOL_SRCS     := $(wildcard tool/*.c)
TOOL_HDRS     := $(wildcard tool/*.h)
UNIT_SRCS     := $(sort $(wildcard t/unit/test_*.c))
UNIT_BINS     := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
FUZZ_SRCS     := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS     := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

NGX_BUILD     := $(BUILD)/nginx
MODULE        := $(BUILD)/ngx_http_mail_track_module.so
TOOL          := $(BUILD)/mail-track
VERSION       := $(shell sed -n 's/^\#define MT_VERSION *"\(.*\)"/\1/p' \
                   $(CORE_DIR)/mt_version.h)

TEST_ENV       = TEST_NGINX_BINARY=$(NGINX_BIN) \
                 TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) \
                 MAIL_TRACK_TOOL=$(CURDIR)/$(TOOL) \
                 PATH=$(CURDIR)/$(BUILD):$$PATH


.PHONY: all module tool unit deps test test-unit test-nginx test-fuzz \
        run stop bench bench-load fuzz fuzz-build valgrind asan asan-run \
        soak soak-asan clean man deb test-deb

all: module tool $(BUILD)/spool-gen


deps:
	@scripts/deps.sh build


# the nginx tree is configured again when the module's file list changes

$(BUILD)/sources.list: FORCE
	@mkdir -p $(BUILD)
	@echo $(NGINX_SRC) config $(CORE_SRCS) $(CORE_CXX_SRCS) $(GLUE_SRCS) \
	    $(NGX_EXTRA_CC_OPT) $(NGX_EXTRA_LD_OPT) > $@.new
	@cmp -s $@.new $@ 2>/dev/null && rm -f $@.new || mv $@.new $@

$(NGX_BUILD)/objs/Makefile: $(BUILD)/sources.list config \
                            scripts/configure-nginx.sh
	scripts/configure-nginx.sh $(NGINX_SRC) $(NGX_BUILD) $(CURDIR)

$(MODULE): $(NGX_BUILD)/objs/Makefile $(CORE_SRCS) $(CORE_CXX_SRCS) \
           $(CORE_HDRS) $(GLUE_SRCS)
	@echo "  MODULE  $@"
	$(Q)$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new file, renamed into place: a running nginx has the old one
	@# mapped, and overwriting it in place crashes its next workers
	$(Q)cp $(NGX_BUILD)/objs/ngx_http_mail_track_module.so $@.tmp
	$(Q)mv -f $@.tmp $@

module: $(MODULE)


$(BUILD)/core/%.o: $(CORE_DIR)/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC $(CPPFLAGS_MT) -c $< -o $@

# the same flags as nginx's build gives it: the C ones
$(BUILD)/core/%.o: $(CORE_DIR)/%.cpp $(CORE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC $(CPPFLAGS_MT) -c $< -o $@

$(BUILD)/libmtcore.a: $(CORE_OBJS)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(TOOL): $(TOOL_SRCS) $(TOOL_HDRS) $(BUILD)/libmtcore.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(CPPFLAGS_MT) $(CFLAGS_TOOL) \
	    -Itool \
	    $(TOOL_SRCS) $(BUILD)/libmtcore.a $(LDFLAGS) $(LIBS_TOOL) -o $@

tool: $(TOOL)


# mail-track(1), from docs/tool.md
$(BUILD)/mail-track.1: docs/tool.md scripts/man.sh $(CORE_DIR)/mt_version.h
	@mkdir -p $(BUILD)
	scripts/man.sh docs/tool.md $(VERSION) > $@.tmp
	@mv $@.tmp $@

man: $(BUILD)/mail-track.1


# realistic spool files, for the loader's tests and bench
$(BUILD)/spool-gen: bench/mt_spool_gen.c $(BUILD)/libmtcore.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_MT) $< $(BUILD)/libmtcore.a \
	    $(LIBS_CORE) -o $@


$(BUILD)/unit/%: t/unit/%.c $(wildcard t/unit/*.h) $(BUILD)/libmtcore.a
	@mkdir -p $(dir $@)
	@echo "  UNIT    $@"
	$(Q)$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_MT) -It/unit $< \
	    $(BUILD)/libmtcore.a $(LIBS_CORE) -o $@

unit: $(UNIT_BINS)


test: 
	@scripts/deps.sh test
	$(MAKE) all unit fuzz-build
	$(MAKE) test-unit test-nginx test-fuzz

test-unit: unit
	prove $(UNIT_BINS)

test-nginx: all
	$(TEST_ENV) prove -I t/lib -j$(PROVE_JOBS) -r t

# the whole suite with nginx under valgrind (slow)
valgrind: all unit
	for t in $(UNIT_BINS); do \
	    valgrind -q --error-exitcode=99 --leak-check=full $$t || exit 1; \
	done
	$(TEST_ENV) TEST_NGINX_USE_VALGRIND=1 prove -I t/lib -r t


# AddressSanitizer + UndefinedBehaviorSanitizer: the module (loaded into
# Debian's nginx with libasan preloaded), the tool and the unit tests, in
# their own build directory; every report fails a test (t/lib/README.md)

ASAN_BUILD    ?= build-asan
SAN_FLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
SAN_ENV        = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=99 \
                 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                 LSAN_OPTIONS=suppressions=$(LSAN_SUPP)
LSAN_SUPP     := $(CURDIR)/t/lib/Test/Nginx/lsan.suppress

asan:
	@scripts/deps.sh test
	$(MAKE) BUILD=$(ASAN_BUILD) CFLAGS="-g -O1 $(SAN_FLAGS)" \
	    NGX_EXTRA_CC_OPT="-O1 $(SAN_FLAGS)" \
	    NGX_EXTRA_LD_OPT="$(SAN_FLAGS)" asan-run

asan-run: all unit
	$(SAN_ENV) prove $(UNIT_BINS)
	$(TEST_ENV) $(SAN_ENV) TEST_NGINX_USE_ASAN=1 \
	    prove -I t/lib -j$(PROVE_JOBS) -r t


# make soak: SOAK_SECONDS of load with reloads, binary upgrades, killed
# workers, a full disk and a zone resize (t/soak/soak.pl), then a shorter
# run with the sanitizers (SOAK_ASAN_SECONDS); root only (a tmpfs)

SOAK_SECONDS      ?= 300
SOAK_ASAN_SECONDS ?= 90
NGX_INCS       = $(addprefix -I$(NGX_BUILD)/, src/core src/event \
                   src/event/modules src/os/unix objs src/http \
                   src/http/modules src/http/v2) \
                 -Ingx_mail_track_module -I$(CORE_DIR)

$(BUILD)/mt-peek: t/soak/mt-peek.c $(MODULE)
	@echo "  CC      $@"
	$(Q)$(CC) -g -O1 $(WARN) $(NGX_INCS) $< -o $@

# both runs run; either one failing fails make soak
soak:
	@scripts/deps.sh soak
	$(MAKE) all $(BUILD)/mt-peek
	rc=0; \
	$(TEST_ENV) MT_PEEK=$(CURDIR)/$(BUILD)/mt-peek \
	    SOAK_SECONDS=$(SOAK_SECONDS) \
	    SOAK_FIGURES=$(CURDIR)/$(BUILD)/soak-figures.txt \
	    prove -v t/soak/soak.pl || rc=1; \
	$(MAKE) BUILD=$(ASAN_BUILD) CFLAGS="-g -O1 $(SAN_FLAGS)" \
	    NGX_EXTRA_CC_OPT="-O1 $(SAN_FLAGS)" \
	    NGX_EXTRA_LD_OPT="$(SAN_FLAGS)" soak-asan || rc=1; \
	exit $$rc

soak-asan: all $(BUILD)/mt-peek
	$(TEST_ENV) $(SAN_ENV) TEST_NGINX_USE_ASAN=1 \
	    MT_PEEK=$(CURDIR)/$(BUILD)/mt-peek \
	    SOAK_SECONDS=$(SOAK_ASAN_SECONDS) \
	    SOAK_FIGURES=$(CURDIR)/$(BUILD)/soak-figures.txt \
	    prove -v t/soak/soak.pl


run: 
	@scripts/deps.sh run
	$(MAKE) all
	scripts/run.sh start

stop:
	scripts/run.sh stop


bench:
	@scripts/deps.sh bench
	$(MAKE) all
	bench/run.sh

# a million events into SQLite and PostgreSQL (docs/performance.md)
bench-load:
	@scripts/deps.sh bench-load
	$(MAKE) tool $(BUILD)/spool-gen
	bench/load.sh

# instructions per request of each measure of make bench (callgrind)
.PHONY: bench-callgrind
bench-callgrind:
	@scripts/deps.sh bench
	$(MAKE) all
	bench/callgrind.sh


FUZZ_CC       := clang-14
FUZZ_CXX      := clang++-14
FUZZ_SAN      := -g -O1 -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined
FUZZ_FLAGS    := $(FUZZ_SAN) -fsanitize=fuzzer
FUZZ_CORE     := $(patsubst $(CORE_DIR)/%.c,$(BUILD)/fuzz/core/%.o,\
                            $(CORE_SRCS)) \
                 $(patsubst $(CORE_DIR)/%.cpp,$(BUILD)/fuzz/core/%.o,\
                            $(CORE_CXX_SRCS))

# the core once, instrumented for the fuzzers; each target links it
$(BUILD)/fuzz/core/%.o: $(CORE_DIR)/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(CPPFLAGS_MT) \
	    -c $< -o $@

$(BUILD)/fuzz/core/%.o: $(CORE_DIR)/%.cpp $(CORE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  FUZZCXX $<"
	$(Q)$(FUZZ_CXX) -std=c++17 $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    $(WARN) $(CPPFLAGS_MT) -c $< -o $@

$(BUILD)/fuzz/libmtcore.a: $(FUZZ_CORE)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/fuzz/%: t/fuzz/%.c $(wildcard t/fuzz/*.h) $(wildcard t/unit/*.h) \
                $(BUILD)/fuzz/libmtcore.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@# the C++ driver links UBSan's C++ checks (vptr) for mt_json.o
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) $(CPPFLAGS_MT) -It/unit -It/fuzz \
	    -x c $< -x none $(BUILD)/fuzz/libmtcore.a $(LIBS_CORE) -o $@

fuzz-build: $(FUZZ_BINS)

fuzz:
	@scripts/deps.sh fuzz
	$(MAKE) fuzz-build
	t/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# make test: every target over its seeds (a crash found once stays
# fixed), then FUZZ_REGRESS_SECONDS of new inputs each
test-fuzz: fuzz-build
	t/fuzz/run.sh --regress $(FUZZ_REGRESS_SECONDS) $(FUZZ_BINS)


# Debian packages: dpkg-buildpackage in a copy of the tree (it writes its
# results next to the source); debug symbols go to build/deb/dbgsym/

DEB_DIR       := $(BUILD)/deb
DEB_SRC       := $(DEB_DIR)/mail-track-$(VERSION)

deb:
	@scripts/deps.sh deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC) $(DEB_DIR)/dbgsym
	tar -c --exclude=./build --exclude=./$(ASAN_BUILD) --exclude=./.git \
	    --exclude='./t/servroot*' \
	    --exclude=./run . | tar -x -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc -jauto
	mv $(DEB_DIR)/*-dbgsym_*.deb $(DEB_DIR)/dbgsym/
	rm -rf $(DEB_SRC)
	@ls $(DEB_DIR)/*.deb

# installs the packages on this machine, checks them, purges them and
# puts /etc/nginx back (docs/packaging.md)
test-deb:
	@scripts/deps.sh deb-test
	$(MAKE) deb
	prove -I t/lib t/deb/install.pl


clean:
	rm -rf $(BUILD) $(ASAN_BUILD) t/servroot*

FORCE:
