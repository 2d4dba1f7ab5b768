# SPDX-License-Identifier: Apache-2.0
# sealsync — one non-recursive GNU Makefile.
# Targets: all test unit model integration sanitize analyze format fuzz install uninstall
#          install-contrib spdx-check clean
# (make integration TEST_JOBS=N TESTS="tests/integration/NN-x.t ...")
# Quiet unless V=1.  WERROR=1 (CI and developers) turns warnings into errors; off by
# default so that packagers' flags and newer compilers do not break the build.
# Packagers: CPPFLAGS, CFLAGS, LDFLAGS and LDLIBS are appended after the project's own
# flags (so CFLAGS="-D_FORTIFY_SOURCE=3 -O2" wins); PKG_CONFIG names pkg-config;
# PREFIX, DESTDIR, BINDIR, MANDIR, BASHCOMPDIR, ZSHCOMPDIR, SBINDIR, SYSTEMD_USER_UNITDIR
# place `make install`.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# zsh's default $fpath holds /usr/local/share/zsh/site-functions and, on Debian,
# /usr/share/zsh/vendor-completions (for packages).
ZSHCOMPDIR  ?= $(if $(filter /usr,$(PREFIX)),$(DATADIR)/zsh/vendor-completions,$(DATADIR)/zsh/site-functions)
# mount(8)'s helpers (mount.sealsync, mount.fuse.sealsync) and the systemd user unit.
SBINDIR     ?= $(PREFIX)/sbin
SYSTEMD_USER_UNITDIR ?= $(PREFIX)/lib/systemd/user
INSTALL     ?= install
BUILD       ?= build
CC          ?= cc
PKG_CONFIG  ?= pkg-config
PKGS        := fuse3 libsodium libcurl sqlite3 libcrypto

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
# Our _FORTIFY_SOURCE level only when the packager's flags name none (no redefinition).
FORTIFY := $(if $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,-D_FORTIFY_SOURCE=2)
HARDEN := $(FORTIFY) -fstack-protector-strong -fPIE
OPT    ?= -O2 -g
CFLAGS_ALL := -std=c17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314 \
              -I. $(WARN) $(OPT) $(PKG_CFLAGS)
ifneq ($(SANITIZE),)
CFLAGS_ALL += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -U_FORTIFY_SOURCE
LDFLAGS_ALL += -fsanitize=$(SANITIZE)
else
CFLAGS_ALL += $(HARDEN)
LDFLAGS_ALL += -pie -Wl,-z,relro,-z,now
endif
# The user's flags last, so they override ours.
CFLAGS_ALL += $(CPPFLAGS) $(CFLAGS)
LDFLAGS_ALL += $(LDFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lpthread $(LDLIBS)

LIB_SRC  := $(wildcard util/*.c crypto/*.c keyring/*.c sync/*.c fs/*.c)
CLI_SRC  := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libsealsync.a
BIN      := $(BUILD)/sealsync
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
# The binary the integration tests run: build/sealsync with crypto/kdf.c built
# -DSEALSYNC_TEST_HOOKS (SEALSYNC_TEST_KDF=min: cheap Argon2id for test keys;
# see crypto/kdf.h).  Never installed.
TEST_BIN := $(BUILD)/tests/sealsync
TEST_KDF_OBJ := $(BUILD)/tests/kdf-testhooks.o
SIM_BIN  := $(BUILD)/sim $(BUILD)/sim-detrand.so
# The version string (scripts/version.sh: VERSION plus the git commit) is compiled
# into one generated file, rewritten only when the string changes: a rebuild at the
# same commit recompiles and relinks nothing.
VERSION_SRC := $(BUILD)/gen/version.c
VERSION_OBJ := $(BUILD)/gen/version.o
# `make sim`: seeds of the deterministic simulation's passing configuration (tests/sim/README.md;
# `make test` runs it through tests/integration/38-sim.t).
SIM_SEEDS ?= 200
# One page per command, sealsync-CMD(1), generated from `sealsync CMD --help`
# (scripts/gen-man.sh) so that the two cannot drift; the commands are those of
# the table in cli/main.c.
MAN_CMDS  := $(shell sed -n 's/^ *{"\([a-z-]*\)", cmd_[a-z_]*,.*/\1/p' cli/main.c)
MAN_PAGES := $(MAN_CMDS:%=$(BUILD)/man/sealsync-%.1)

.PHONY: all test unit integration model sim sanitize analyze format format-check fuzz install \
	uninstall install-contrib uninstall-contrib spdx-check clean FORCE
all: $(BIN) $(TOOL_BIN) $(UNIT_BIN) $(TEST_BIN) $(SIM_BIN) $(MAN_PAGES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(VERSION_SRC): FORCE
	@mkdir -p $(dir $@)
	$(Q)v=$$(./scripts/version.sh .) && \
	  printf '#include "cli/version.h"\nconst char sealsync_version[] = "%s";\n' "$$v" >$@.tmp && \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

$(VERSION_OBJ): $(VERSION_SRC)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BIN): $(CLI_OBJ) $(VERSION_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(VERSION_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/man/sealsync-%.1: $(BIN) scripts/gen-man.sh
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)./scripts/gen-man.sh $(BIN) $* >$@.tmp && mv -f $@.tmp $@

# kdf-testhooks.o comes before the archive: the archive's kdf.o is not linked.
$(TEST_KDF_OBJ): crypto/kdf.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_ALL) -DSEALSYNC_TEST_HOOKS -MMD -MP -c $< -o $@

$(TEST_BIN): $(CLI_OBJ) $(VERSION_OBJ) $(TEST_KDF_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(VERSION_OBJ) $(TEST_KDF_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL) -lcmocka

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

$(BUILD)/sim: $(BUILD)/tests/sim/sim.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

# scripts/sim.sh only: deterministic getrandom for the CLI that builds the template.
$(BUILD)/sim-detrand.so: tests/sim/detrand.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c17 -D_GNU_SOURCE $(WARN) -O2 -shared -fPIC -o $@ $<

# Unit tests (cmocka), the protocol model, then integration tests (TAP under
# prove, TEST_JOBS at a time: scripts/run-integration.sh; TEST_JOBS=1 runs them
# one by one, verbose).  TESTS=tests/integration/NN-x.t picks some; each test's
# output is kept in $(BUILD)/test-logs.
TEST_JOBS ?= 3
RUN_INTEGRATION = SEALSYNC_BIN=$(abspath $(TEST_BIN)) SEALSYNC_TOOLS=$(abspath $(BUILD)/tools) \
	  TEST_JOBS=$(TEST_JOBS) LOG_DIR=$(abspath $(BUILD)/test-logs) \
	  ./scripts/run-integration.sh $(TESTS)
test: all
	$(Q)./scripts/run-unit.sh $(BUILD)
	$(Q)./scripts/model.sh $(BUILD)
	$(Q)$(RUN_INTEGRATION)

unit: all
	$(Q)./scripts/run-unit.sh $(BUILD)

# The SPIN model of the protocol (doc/SYNC.md "The protocol model"); ~45 s of CPU.
model:
	$(Q)./scripts/model.sh $(BUILD)

sim: all
	$(Q)SEALSYNC_BIN=$(abspath $(BIN)) SEALSYNC_SIM=$(abspath $(BUILD)/sim) \
	  ./scripts/sim.sh --seeds $(SIM_SEEDS) --disjoint 1 --faults 0 --crashes 0

integration: all
	$(Q)$(RUN_INTEGRATION)

# ASan+UBSan build of everything, run through the same suites.
# Daemons run detached: their sanitizer reports go to files, and any file fails the target.
SAN_LOG := $(CURDIR)/build-asan/san-report
sanitize:
	$(Q)rm -f $(SAN_LOG).*
	$(Q)SEALSYNC_TEST_SCALE=$${SEALSYNC_TEST_SCALE:-3} ASAN_OPTIONS=log_path=$(SAN_LOG):detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SAN_LOG) \
	  $(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined OPT="-O1 -g" test
	$(Q)if ls $(SAN_LOG).* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; head -50 $(SAN_LOG).*; exit 1; fi

analyze:
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -D__GNUC__ -I. \
	  util crypto keyring sync fs cli tests/tools tests/sim

format:
	$(Q)clang-format -i $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(TOOL_SRC) $(FUZZ_SRC) tests/sim/sim.c tests/sim/detrand.c \
	  $(wildcard util/*.h crypto/*.h keyring/*.h sync/*.h fs/*.h cli/*.h)

format-check:
	$(Q)clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(TOOL_SRC) \
	  $(FUZZ_SRC) tests/sim/sim.c tests/sim/detrand.c \
	  $(wildcard util/*.h crypto/*.h keyring/*.h sync/*.h fs/*.h cli/*.h)

# libFuzzer targets (clang); each links the library sources directly.
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
fuzz: $(FUZZ_BIN)
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	$(Q)clang -std=c17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314 -I. -g -O1 \
	  -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -o $@ $< $(LIB_SRC) $(PKG_LIBS) -lpthread

# What `make install` puts where.  Each INSTALL_* list holds files installed under their
# own base names into one directory.  To ship another file, add it to a list, or add a
# list, its directory variable and one line to both the install and the uninstall recipe;
# `make uninstall` then removes exactly what `make install` wrote (directories stay).
INSTALL_BIN      := $(BIN)
INSTALL_MAN1     := man/sealsync.1 $(MAN_PAGES)
INSTALL_MAN5     := man/sealsync-format.5
INSTALL_BASHCOMP := completion/sealsync.bash
INSTALL_ZSHCOMP  := completion/_sealsync
# contrib/ (issue #12): the fstab helper and the systemd user unit, as generated below.
INSTALL_SBIN     := $(BUILD)/contrib/mount.sealsync
INSTALL_SYSTEMD_USER := $(BUILD)/contrib/sealsync@.service

# The contrib files name the installed binary: @BINDIR@ replaced by BINDIR, the
# file rewritten only when that changes (so a new BINDIR is never missed).
$(INSTALL_SBIN): contrib/mount.sealsync FORCE
$(INSTALL_SYSTEMD_USER): contrib/systemd/sealsync@.service FORCE
$(INSTALL_SBIN) $(INSTALL_SYSTEMD_USER):
	@mkdir -p $(dir $@)
	$(Q)sed 's|@BINDIR@|$(BINDIR)|g' $(filter-out FORCE,$^) >$@.tmp && \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

# $(call install_files,DIR,MODE,FILES[,NAME]): FILES into DESTDIR/DIR (as NAME if given).
install_files = $(if $(strip $(3)),$(INSTALL) -d "$(DESTDIR)$(1)" && \
	$(foreach f,$(3),$(INSTALL) -m $(2) "$(f)" "$(DESTDIR)$(1)/$(or $(4),$(notdir $(f)))" &&) true)
uninstall_files = $(foreach f,$(3),rm -f "$(DESTDIR)$(1)/$(or $(4),$(notdir $(f)))" &&) true

install: $(INSTALL_BIN) $(INSTALL_MAN1) $(INSTALL_MAN5) install-contrib
	$(call install_files,$(BINDIR),0755,$(INSTALL_BIN))
	$(call install_files,$(MANDIR)/man1,0644,$(INSTALL_MAN1))
	$(call install_files,$(MANDIR)/man5,0644,$(INSTALL_MAN5))
	$(call install_files,$(BASHCOMPDIR),0644,$(INSTALL_BASHCOMP),sealsync)
	$(call install_files,$(ZSHCOMPDIR),0644,$(INSTALL_ZSHCOMP))

uninstall: uninstall-contrib
	$(call uninstall_files,$(BINDIR),0755,$(INSTALL_BIN))
	$(call uninstall_files,$(MANDIR)/man1,0644,$(INSTALL_MAN1))
	$(call uninstall_files,$(MANDIR)/man5,0644,$(INSTALL_MAN5))
	$(call uninstall_files,$(BASHCOMPDIR),0644,$(INSTALL_BASHCOMP),sealsync)
	$(call uninstall_files,$(ZSHCOMPDIR),0644,$(INSTALL_ZSHCOMP))

# Part of install/uninstall; on their own for a DESTDIR test of the contrib files (71).
# mount(8) runs mount.fuse.sealsync for type fuse.sealsync: a link to the helper.
install-contrib: $(INSTALL_SBIN) $(INSTALL_SYSTEMD_USER)
	$(call install_files,$(SBINDIR),0755,$(INSTALL_SBIN))
	ln -sf mount.sealsync "$(DESTDIR)$(SBINDIR)/mount.fuse.sealsync"
	$(call install_files,$(SYSTEMD_USER_UNITDIR),0644,$(INSTALL_SYSTEMD_USER))

uninstall-contrib:
	$(call uninstall_files,$(SBINDIR),0755,$(INSTALL_SBIN))
	rm -f "$(DESTDIR)$(SBINDIR)/mount.fuse.sealsync"
	$(call uninstall_files,$(SYSTEMD_USER_UNITDIR),0644,$(INSTALL_SYSTEMD_USER))

# Every tracked source file must carry the licence line (scripts/spdx-check.sh).
spdx-check:
	$(Q)./scripts/spdx-check.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz

# Keep test and tool objects (they are intermediates of pattern rules) and
# track their header dependencies too, so a header change rebuilds them.
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
SIM_OBJ  := $(BUILD)/tests/sim/sim.o
.SECONDARY: $(UNIT_OBJ) $(TOOL_OBJ) $(SIM_OBJ)
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_KDF_OBJ:.o=.d) $(SIM_OBJ:.o=.d)
