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

    /// A trimmed `xnat.xsd`: the types and containment xnatpy needs to build its classes
    /// (project -> subjects -> experiments -> scans -> resources), same names as the real schema.
    static let xnatXSD = """
    <?xml version="1.0" encoding="UTF-8"?>
    <xs:schema targetNamespace="http://nrg.wustl.edu/xnat" xmlns:xnat="http://nrg.wustl.edu/xnat"
      xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" attributeFormDefault="unqualified">
      <xs:element name="Project" type="xnat:projectData"/>
      <xs:element name="Subject" type="xnat:subjectData"/>
      <xs:element name="MRSession" type="xnat:mrSessionData"/>
      <xs:element name="MRScan" type="xnat:mrScanData"/>
      <xs:element name="ResourceCatalog" type="xnat:resourceCatalog"/>
      <xs:complexType name="projectData">
        <xs:sequence>
          <xs:element name="name" type="xs:string" minOccurs="0"/>
          <xs:element name="description" type="xs:string" minOccurs="0"/>
          <xs:element name="resources" minOccurs="0">
            <xs:complexType><xs:sequence>
              <xs:element name="resource" type="xnat:abstractResource" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType>
          </xs:element>
        </xs:sequence>
        <xs:attribute name="ID" type="xs:string" use="required"/>
        <xs:attribute name="secondary_ID" type="xs:string"/>
      </xs:complexType>
      <xs:complexType name="subjectData">
        <xs:sequence>
          <xs:element name="resources" minOccurs="0">
            <xs:complexType><xs:sequence>
              <xs:element name="resource" type="xnat:abstractResource" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType>
          </xs:element>
          <xs:element name="experiments" minOccurs="0">
            <xs:complexType><xs:sequence>
              <xs:element name="experiment" type="xnat:subjectAssessorData" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType>
          </xs:element>
        </xs:sequence>
        <xs:attribute name="ID" type="xs:string"/>
        <xs:attribute name="project" type="xs:string"/>
        <xs:attribute name="label" type="xs:string"/>
      </xs:complexType>
      <xs:complexType name="experimentData">
        <xs:sequence>
          <xs:element name="date" type="xs:date" minOccurs="0"/>
          <xs:element name="resources" minOccurs="0">
            <xs:complexType><xs:sequence>
              <xs:element name="resource" type="xnat:abstractResource" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType>
          </xs:element>
        </xs:sequence>
        <xs:attribute name="ID" type="xs:string"/>
        <xs:attribute name="project" type="xs:string"/>
        <xs:attribute name="label" type="xs:string"/>
      </xs:complexType>
      <xs:complexType name="subjectAssessorData">
        <xs:complexContent><xs:extension base="xnat:experimentData">
          <xs:sequence><xs:element name="subject_ID" type="xs:string" minOccurs="0"/></xs:sequence>
        </xs:extension></xs:complexContent>
      </xs:complexType>
      <xs:complexType name="imageSessionData">
        <xs:complexContent><xs:extension base="xnat:subjectAssessorData">
          <xs:sequence>
            <xs:element name="modality" type="xs:string" minOccurs="0"/>
            <xs:element name="scans" minOccurs="0">
              <xs:complexType><xs:sequence>
                <xs:element name="scan" type="xnat:imageScanData" minOccurs="0" maxOccurs="unbounded"/>
              </xs:sequence></xs:complexType>
            </xs:element>
          </xs:sequence>
        </xs:extension></xs:complexContent>
      </xs:complexType>
      <xs:complexType name="mrSessionData">
        <xs:complexContent><xs:extension base="xnat:imageSessionData"/></xs:complexContent>
      </xs:complexType>
      <xs:complexType name="imageScanData">
        <xs:sequence>
          <xs:element name="quality" type="xs:string" minOccurs="0"/>
          <xs:element name="series_description" type="xs:string" minOccurs="0"/>
          <xs:element name="note" type="xs:string" minOccurs="0"/>
          <xs:element name="file" type="xnat:abstractResource" minOccurs="0" maxOccurs="unbounded"/>
        </xs:sequence>
        <xs:attribute name="ID" type="xs:string" use="required"/>
        <xs:attribute name="type" type="xs:string"/>
        <xs:attribute name="image_session_ID" type="xs:string"/>
        <xs:attribute name="project" type="xs:string"/>
      </xs:complexType>
      <xs:complexType name="mrScanData">
        <xs:complexContent><xs:extension base="xnat:imageScanData"/></xs:complexContent>
      </xs:complexType>
      <xs:complexType name="abstractResource">
        <xs:sequence><xs:element name="note" type="xs:string" minOccurs="0"/></xs:sequence>
        <xs:attribute name="label" type="xs:string"/>
        <xs:attribute name="file_count" type="xs:integer"/>
        <xs:attribute name="file_size" type="xs:integer"/>
      </xs:complexType>
      <xs:complexType name="resource">
        <xs:complexContent><xs:extension base="xnat:abstractResource">
          <xs:attribute name="URI" type="xs:string"/>
          <xs:attribute name="format" type="xs:string"/>
          <xs:attribute name="content" type="xs:string"/>
        </xs:extension></xs:complexContent>
      </xs:complexType>
      <xs:complexType name="resourceCatalog">
        <xs:complexContent><xs:extension base="xnat:resource"/></xs:complexContent>
      </xs:complexType>
    </xs:schema>
    """
}
