// What every libFuzzer target of Fuzz/ shares: the `LLVMFuzzerTestOneInput` entry point libFuzzer
// calls with each input, and a `main` that hands the command line to libFuzzer's driver. A trap or
// a sanitizer report is a crash; returning, with a result or an error, is what every input must do.
#if canImport(Glibc)
import Glibc
#endif

/// The running target's parse call; set once by `runFuzzer`, before libFuzzer starts.
nonisolated(unsafe) private var parseInput: ([UInt8]) -> Void = { _ in }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    parseInput(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Runs libFuzzer's driver with this process's flags (-max_total_time, -runs, ...), feeding each
/// input to `parse`. SwiftPM links an executable target's own `main`, so libFuzzer's is not used.
public func runFuzzer(_ parse: @escaping ([UInt8]) -> Void) -> Never {
    parseInput = parse
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
}
