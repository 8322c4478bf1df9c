import ArgumentParser
import FlowCommands

/// The thin entry point: everything lives in FlowCommands, where tests can call it.
@main
extension Flowctl {}
