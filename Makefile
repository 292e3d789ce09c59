# ringway: the two commands a newcomer needs are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
CONFIG     ?= config/ringway.yaml
JOBS       ?= $(shell nproc)
WERROR     ?= $(if $(CI),ON,OFF)
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)

# Debian 12 packages needed to build and test (nothing is downloaded at build time).
DEPS := build-essential cmake pkg-config liburing-dev libssl-dev libyaml-cpp-dev \
        prometheus-cpp-dev libgtest-dev libgmock-dev libcli11-dev libhttp-parser-dev libre2-dev \
        openssl curl python3 prometheus linux-perf testssl.sh
# prometheus: promtool and the server for the dashboard/alert tests (tests/metrics_e2e);
# linux-perf: perf stat, which checks ringway_syscalls_total; testssl.sh: the TLS audit of
# the default settings (tests/deploy/tls_audit_test.cc). Without them those tests skip.

.PHONY: deps configure build run test sanitize check bench clean
deps:  ## install what is missing, nothing else (idempotent)
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi

configure: deps
	cmake -S . -B $(BUILD) -DRINGWAY_WERROR=$(WERROR)

build: configure  ## everything: the binary, the test binaries, the bench helpers
	cmake --build $(BUILD) -j$(JOBS)

run: configure  ## builds only the ringway binary (no test binaries), then starts it
	cmake --build $(BUILD) -j$(JOBS) --target ringway
	$(BUILD)/ringway -c $(CONFIG)

check: configure  ## validate a config without starting anything
	cmake --build $(BUILD) -j$(JOBS) --target ringway
	$(BUILD)/ringway --check -c $(CONFIG)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 300

sanitize: deps  ## AddressSanitizer + UndefinedBehaviorSanitizer build and test run
	cmake -S . -B $(ASAN_BUILD) -DRINGWAY_WERROR=$(WERROR) -DRINGWAY_SANITIZE=address,undefined \
	  -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) --timeout 600

bench: build  ## side-by-side benchmarks vs nginx/HAProxy (bench/README.md); QUICK=1 for a smoke run
	bench/run $(if $(QUICK),--quick) $(BENCH_ARGS)

# deploy/ (deploy/README.md): the container image and the tests of every deployment path.
IMAGE       ?= localhost/ringway:latest
BASE_IMAGE  ?= localhost/ringway-base:bookworm
# podman, runc and debootstrap build and run the image; systemd brings systemd-analyze.
# (Node.js and npm, for the Kubernetes schema check, come with these machines.)
DEPLOY_DEPS := podman runc debootstrap systemd python3-yaml

.PHONY: deploy-deps image test-deploy
deploy-deps:  ## what make image and make test-deploy need (idempotent)
	@missing=$$(for p in $(DEPLOY_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi

image: deploy-deps  ## container image $(IMAGE); its base is built from Debian packages (no registry)
	deploy/container/build-image $(IMAGE) $(BASE_IMAGE)

# sd_notify and the systemd unit (also in make test), the Kubernetes manifests, then the image
# built and run under podman. Parts that cannot run here (no podman, no npm registry) say SKIP.
test-deploy: build  ## deploy/: systemd unit, sd_notify, Kubernetes manifests, container image
	@$(MAKE) --no-print-directory deploy-deps || echo "test-deploy: could not install" \
	  "$(DEPLOY_DEPS); what needs them will skip"
	ctest --test-dir $(BUILD) -L deploy --output-on-failure --timeout 300
	tests/deploy/k8s_test.sh $(BUILD)
	BASE_IMAGE=$(BASE_IMAGE) tests/deploy/container_test.sh $(IMAGE)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
