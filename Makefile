# aispm - build, demo, tests and infrastructure checks.
#
#   make build          every Lambda package into .build/<function>/ and .build/<function>.zip (Terraform uses the zips)
#   make build-plan     one of them (likewise build-collect-aws, build-collect-azure, build-collect-gcp, build-deliver, build-replay)
#   sam build           calls the build-<LogicalId> targets below (BuildMethod: makefile) with $(ARTIFACTS_DIR)
#   make demo / test    ./scripts/demo, ./scripts/test
#   make lint-infra     cfn-lint, terraform fmt, checkov and the template tests
#
# Builds need a CPython 3.13 (the Lambda runtime's version): python3.13 on PATH, or LAMBDA_PYTHON=/path/to/python3.13,
# or `sam build --use-container`. LAMBDA_ARCH=x86_64 builds for x86_64 functions instead of arm64.

PYTHON        ?= python3
LAMBDA_PYTHON ?=
LAMBDA_ARCH   ?= arm64
BUILD_DIR     ?= .build

FUNCTIONS := plan collect-aws collect-azure collect-gcp deliver replay
BUILD_LAMBDA = $(PYTHON) scripts/build_lambda.py --arch $(LAMBDA_ARCH) $(if $(LAMBDA_PYTHON),--python $(LAMBDA_PYTHON))

.PHONY: build $(addprefix build-,$(FUNCTIONS)) demo test lint-infra clean \
	build-PlanFunction build-CollectAwsFunction build-CollectAzureFunction build-CollectGcpFunction \
	build-DeliverFunction build-ReplayFunction

build: $(addprefix build-,$(FUNCTIONS))

$(addprefix build-,$(FUNCTIONS)): build-%:
	$(BUILD_LAMBDA) $* $(BUILD_DIR)/$* --zip $(BUILD_DIR)/$*.zip

# SAM (Metadata: BuildMethod: makefile) runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
build-PlanFunction:
	$(BUILD_LAMBDA) plan "$(ARTIFACTS_DIR)"
build-CollectAwsFunction:
	$(BUILD_LAMBDA) collect-aws "$(ARTIFACTS_DIR)"
build-CollectAzureFunction:
	$(BUILD_LAMBDA) collect-azure "$(ARTIFACTS_DIR)"
build-CollectGcpFunction:
	$(BUILD_LAMBDA) collect-gcp "$(ARTIFACTS_DIR)"
build-DeliverFunction:
	$(BUILD_LAMBDA) deliver "$(ARTIFACTS_DIR)"
build-ReplayFunction:
	$(BUILD_LAMBDA) replay "$(ARTIFACTS_DIR)"

demo:
	./scripts/demo

test:
	./scripts/test

lint-infra:
	./scripts/lint-infra
	$(PYTHON) -m pytest -q tests/infra

clean:
	rm -rf $(BUILD_DIR) .aws-sam
