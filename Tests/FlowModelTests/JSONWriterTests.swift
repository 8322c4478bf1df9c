import Foundation
import Testing
@testable import FlowModel

@Suite struct JSONWriterTests {
    /// Writes one object with every kind of value.
    func sample(_ layout: JSONWriter.Layout) -> String {
        var json = JSONWriter(layout)
        json.openObject()
        json.key("a"); json.value("quote \" backslash \\ slash / tab \t nul \u{0} é")
        json.key("b"); json.value(-42)
        json.key("c"); json.value(0.25)
        json.key("d"); json.value(true)
        json.key("e"); json.value(Double.nan)
        json.key("f"); json.value(["x", "y"])
        json.key("g"); json.openObject(); json.closeObject()
        json.closeObject()
        return String(decoding: json.take(), as: UTF8.self)
    }

    /// A key made once writes what the same name as text writes, in both layouts.
    @Test func keysMadeOnceWriteWhatTextKeysWrite() {
        for layout in [JSONWriter.Layout.pretty, .compact] {
            var text = JSONWriter(layout), made = JSONWriter(layout)
            text.openObject(); made.openObject()
            for name in ["a", "b \" \\ \t", "c/é"] {
                text.key(name); text.value(1)
                made.key(JSONWriter.Key(name)); made.value(1)
            }
            text.key("d"); text.openArray(); text.closeArray()
            made.key(JSONWriter.Key("d")); made.openArray(); made.closeArray()
            text.closeObject(); made.closeObject()
            #expect(made.take() == text.take())
        }
    }

    @Test func compactIsOneLineThatParsesBack() throws {
        let text = sample(.compact)
        #expect(text == #"{"a":"quote \" backslash \\ slash / tab \t nul \u0000 é","b":-42,"c":0.25,"d":true,"e":null,"f":["x","y"],"g":{}}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["a"] as? String == "quote \" backslash \\ slash / tab \t nul \u{0} é")
        #expect(object["c"] as? Double == 0.25)
    }

    /// The pretty layout is Foundation's `.prettyPrinted` + `.sortedKeys` + `.withoutEscapingSlashes`.
    @Test func prettyMatchesFoundation() throws {
        let object: [String: Any] = ["a": "quote \" backslash \\ slash / tab \t nul \u{0} é", "b": -42, "c": 0.25,
                                     "d": true, "f": ["x", "y"], "g": [String: Any]()]
        var json = JSONWriter(.pretty)
        json.openObject()
        json.key("a"); json.value(object["a"] as! String)
        json.key("b"); json.value(-42)
        json.key("c"); json.value(0.25)
        json.key("d"); json.value(true)
        json.key("f"); json.value(["x", "y"])
        json.key("g"); json.openObject(); json.closeObject()
        json.closeObject()
        let foundation = try JSONSerialization.data(withJSONObject: object,
                                                    options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        #expect(String(decoding: json.take(), as: UTF8.self) == String(decoding: foundation, as: UTF8.self))
    }
}
