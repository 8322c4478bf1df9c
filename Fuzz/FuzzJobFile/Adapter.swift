// The fuzz adapter of the job-file loader: bytes -> `JobLoader` as `flowctl validate` runs it
// (unset environment variables tolerated), then the rendered diagnostics. Shared, through a
// symlink, by the libFuzzer target `FuzzJobFile` and `Tests/FuzzRegressionTests`.
import FlowJobFile

enum JobFileFuzzAdapter {
    /// Loads `bytes` as a job file; returns (1 if a job came out, the number of error diagnostics,
    /// the diagnostics as `validate` prints them). The loader never throws: every problem is a diagnostic.
    static func parse(_ bytes: [UInt8]) -> (jobs: Int, errors: Int, rendered: String) {
        let loader = JobLoader(environment: ["HOME": "/nonexistent", "XNAT_URL": "http://127.0.0.1:9"],
                               overrides: [], tolerateUnsetEnvironment: true)
        let result = loader.load(path: "fuzz.yml", bytes: bytes)
        return (result.job == nil ? 0 : 1, result.errors.count, result.rendered())
    }
}
