import FlowModel
import Testing

@Suite struct URLCredentialsTests {
    @Test func splitTakesTheUserinfoOutDecoded() {
        #expect(URLCredentials.split("https://alice:s%2Fcr%40t@h.org:8443/p?q=1") == ("https://h.org:8443/p?q=1", "alice", "s/cr@t") )
        #expect(URLCredentials.split("https://alice@h.org/") == ("https://h.org/", "alice", nil))
        #expect(URLCredentials.split("https://h.org/a@b") == ("https://h.org/a@b", nil, nil))
        #expect(URLCredentials.split("https://h.org?x=a@b") == ("https://h.org?x=a@b", nil, nil))
        // A raw `@` in the password: everything up to the authority's last `@` is userinfo.
        #expect(URLCredentials.split("https://u:p@ss@h.org/") == ("https://h.org/", "u", "p@ss"))
        #expect(URLCredentials.split("/local/folder") == ("/local/folder", nil, nil))
    }

    @Test func maskedHidesTheUserinfoOfEveryURLInAText() {
        #expect(URLCredentials.masked("from https://u:p@h.org/x (and `http://v:q@w:1`)") == "from https://***@h.org/x (and `http://***@w:1`)")
        #expect(URLCredentials.masked("no urls here @ all") == "no urls here @ all")
        #expect(URLCredentials.masked("https://h.org/a@b") == "https://h.org/a@b")
    }
}

@Suite struct SecretValuesTests {
    @Test func registeredValuesAreScrubbedWholeAndShortOnesLeftAlone() {
        SecretValues.register("model-test-secret")
        SecretValues.register("model-test-secret-longer")
        SecretValues.register("ab1")  // under `minimumLength`: ordinary words stay readable
        #expect(ErrorText.clean("a model-test-secret-longer and model-test-secret, ab1") == "a *** and ***, ab1")
        #expect(ErrorText.quoted("x\u{1B}model-test-secret") == "\"x\\u{1b}***\"")
    }
}
