// The libFuzzer target of the JobFile parser, built only by scripts/fuzz.sh (FLOWCTL_FUZZ set,
// -sanitize=fuzzer): each input goes through the same adapter the regression tests call.
import FuzzDriver

runFuzzer { _ = JobFileFuzzAdapter.parse($0) }
