# Two commands matter: `make demo` and `make test`. Both work on a machine
# with only Go (and curl for the demo): the first run builds Vault from the Go
# module proxy (scripts/get-vault.sh, several minutes, cached afterwards).

VERSION ?= v0.1.0
GO ?= go
PLUGIN := vault-plugin-secrets-salesforce
BIN := bin
# The whole suite, including the end-to-end tests and (on a fresh machine)
# the Vault build, must fit CI's 90 minutes.
TEST_TIMEOUT ?= 80m
E2E_TIMEOUT ?= 30m

.PHONY: all build release vault test unit e2e demo dev dev-stop bench fmt lint vet clean troubleshooting openapi

all: build

# The plugin is built by scripts/build.sh, the one recipe for every build:
# static (CGO_ENABLED=0), -trimpath, no build ID, VERSION compiled in.
build:
	GO=$(GO) scripts/build.sh $(VERSION) $(BIN)/$(PLUGIN)
	$(GO) build -o $(BIN)/sfemu ./cmd/sfemu

# dist/: a binary per OS and arch (the linux ones static), named with the
# version, and SHA256SUMS. VERSION must be given: a release is never the
# default.
release:
	@if [ "$(origin VERSION)" = file ]; then \
		echo "make release needs a version: make release VERSION=vX.Y.Z" >&2; exit 2; fi
	GO=$(GO) scripts/release.sh $(VERSION)

# Builds (first time) or finds a vault >= 1.15; prints its path.
vault:
	@scripts/get-vault.sh

# Vault is fetched first so that its build shows progress on the terminal;
# the e2e TestMain asks scripts/get-vault.sh again and finds it cached.
test: vet
	@scripts/get-vault.sh >/dev/null
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# The edit-test loop: every package but the end-to-end suite, so no Vault.
unit:
	pkgs="$$($(GO) list ./... | grep -v '/e2e$$')" && [ -n "$$pkgs" ] && $(GO) test -race -count=1 $$pkgs

e2e:
	@scripts/get-vault.sh >/dev/null
	$(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -v ./e2e/

demo:
	VERSION=$(VERSION) scripts/demo.sh

dev:
	VERSION=$(VERSION) scripts/dev.sh

dev-stop:
	scripts/dev.sh stop

bench:
	VERSION=$(VERSION) scripts/bench.sh

# docs/troubleshooting.md is generated from the hint table (hints.go); a
# test fails when the checked-in file differs.
troubleshooting:
	$(GO) test -count=1 -run '^TestTroubleshootingDocIsCurrent$$' . -args -update-generated-docs

# docs/openapi.json is the backend's own OpenAPI, generated from its paths;
# a test fails when the checked-in file differs.
openapi:
	$(GO) test -count=1 -run '^TestOpenAPIDocIsCurrent$$' . -args -update-generated-docs

fmt:
	gofmt -w .

vet:
	$(GO) vet ./...

# golangci-lint (unused, errname, staticcheck, gosec, errcheck, govet, and
# gofmt) is built from the Go module proxy the first time and cached.
lint: vet
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@lint="$$(scripts/get-golangci-lint.sh)" && "$$lint" run ./...
	@if command -v shellcheck >/dev/null; then shellcheck -x scripts/*.sh .ci/run; \
	else echo "shellcheck not installed; skipping the shell scripts"; fi

clean:
	rm -rf $(BIN) dist
	@if [ -f .dev/pids ]; then scripts/dev.sh stop; fi
	rm -rf .dev
