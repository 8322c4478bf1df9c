import Foundation
import Hummingbird

/// `/xapi/schemas` and `/data/search/elements`: what xnatpy reads to build its data model.
enum XNATSchemas {
    static let names = ["xnat", "xdat"]

    static func respond(_ req: SandboxRequest, _ rest: [String]) -> Response {
        if rest.isEmpty {
            req.route("/xapi/schemas")
            return Reply.json(.ok, .array(names.map { .string($0) }))
        }
        req.route("/xapi/schemas/{schema}")
        let name = rest.joined(separator: "/")
        guard let xsd = documents[name] else { return XNATEmulator.error(.notFound, "No schema \(name)") }
        return Reply.text(.ok, xsd, contentType: "application/xml")
    }

    static let elementRows: [XNATRow] = [
        [("ELEMENT_NAME", "xnat:projectData"), ("PLURAL", "Projects"), ("SINGULAR", "Project"), ("COUNT", "1")],
        [("ELEMENT_NAME", "xnat:subjectData"), ("PLURAL", "Subjects"), ("SINGULAR", "Subject"), ("COUNT", "0")],
        [("ELEMENT_NAME", "xnat:mrSessionData"), ("PLURAL", "MR Sessions"), ("SINGULAR", "MR Session"), ("COUNT", "0")],
    ]

    static let documents: [String: String] = ["xnat": xnatXSD, "xdat": xdatXSD]

    static let xdatXSD = """
    <?xml version="1.0" encoding="UTF-8"?>
    <xs:schema targetNamespace="http://nrg.wustl.edu/security" xmlns:xdat="http://nrg.wustl.edu/security"
      xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" attributeFormDefault="unqualified">
    </xs:schema>
    """

    static let xnatXSD = """
    <?xml version="1.0" encoding="UTF-8"?>
    <xs:schema targetNamespace="http://nrg.wustl.edu/xnat" xmlns:xnat="http://nrg.wustl.edu/xnat"
      xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" attributeFormDefault="unqualified">
    </xs:schema>
    """
}
