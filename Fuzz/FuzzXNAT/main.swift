// The libFuzzer target of the XNAT parser, built only by scripts/fuzz.sh (FLOWCTL_FUZZ set,
// -sanitize=fuzzer). libFuzzer calls LLVMFuzzerTestOneInput with each input: a trap or a
// sanitizer report is a crash; returning, with a result or an error, is what every input must do.
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? XNATFuzzAdapter.parse(bytes)
    return 0
}

// SwiftPM makes this file's top-level code the program's `main`, so libFuzzer's own `main` is not
// linked: hand the command line to libFuzzer's driver (same flags: -max_total_time, -runs, ...).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
