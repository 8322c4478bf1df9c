import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Listing: archive or reader study -> images -> files. The slug and the image name go to the
/// server as filters when they are literal; every matcher is checked here too.
extension GrandChallengeConnector {
    /// An archive or a reader study: where images live and where uploads go.
    struct Container: Sendable {
        /// `archive` or `reader_study`: the images filter's name, and the fields' prefix.
        var kind: String
        var pk: String
        var slug: String
        var apiURL: String
        var fields: [String: String]
    }

    public func list(_ selection: Selection) async throws -> [RemoteItem] {
        let containers = try await containers(selection)
        let nameFilter = selection.filters(on: "images").filter { $0.field == "image.name" }.compactMap { $0.matcher.literalValues }
            .first.flatMap { $0.count == 1 ? $0[0] : nil }
        return try await listEach(containers) { container in
            let images = try await images(in: container, name: nameFilter)
            return images.flatMap { image -> [RemoteItem] in
                var fields = container.fields
                fields.merge(Self.imageFields(image)) { $1 }
                guard selection.accepts(fields, levels: ["images"]) else { return [] }
                return image.files.compactMap { file in
                    let item = fileItem(file, of: image, fields: fields)
                    return selection.accepts(item.fields, levels: ["files"]) ? item : nil
                }
            }
        }
    }

    /// The archives and reader studies a selection names (`archive:` / `reader-study:`).
    func containers(_ selection: Selection) async throws -> [Container] {
        let wantsArchives = !selection.filters(on: "archive").isEmpty
        let wantsStudies = !selection.filters(on: "reader-study").isEmpty
        guard wantsArchives || wantsStudies else {
            throw ConnectorError.unsupported("a Grand Challenge selection names an `archive` or a `reader-study` (selection `\(selection.name)`)")
        }
        var out: [Container] = []
        if wantsArchives {
            let slug = literalSlug(selection, level: "archive", field: "archive.slug")
            let archives = try await all(APIArchive.self, "archives/", slug.map { [("slug", $0)] } ?? [])
            out += archives.map(Self.container).filter { selection.accepts($0.fields, levels: ["archive"]) }
        }
        if wantsStudies {
            let slug = literalSlug(selection, level: "reader-study", field: "reader_study.slug")
            let studies = try await all(APIReaderStudy.self, "reader-studies/", slug.map { [("slug", $0)] } ?? [])
            out += studies.map(Self.container).filter { selection.accepts($0.fields, levels: ["reader-study"]) }
        }
        return out
    }

    /// A single literal slug a selection asks for (sent as `?slug=`), else nil (list all, match here).
    func literalSlug(_ selection: Selection, level: String, field: String) -> String? {
        let values = selection.filters(on: level).filter { $0.field == field }.compactMap { $0.matcher.literalValues }.first
        return values.flatMap { $0.count == 1 ? $0[0] : nil }
    }

    static func container(_ a: APIArchive) -> Container {
        Container(kind: "archive", pk: a.pk, slug: a.slug, apiURL: a.api_url,
                  fields: ["archive.slug": a.slug, "archive.title": a.title, "archive.pk": a.pk])
    }

    static func container(_ r: APIReaderStudy) -> Container {
        Container(kind: "reader_study", pk: r.pk, slug: r.slug, apiURL: r.api_url,
                  fields: ["reader_study.slug": r.slug, "reader_study.title": r.title_safe ?? r.slug, "reader_study.pk": r.pk])
    }

    /// Images of a container, optionally only those named `name` (`cases/images/?archive=<pk>&name=...`).
    func images(in container: Container, name: String? = nil) async throws -> [APIImage] {
        var query = [(container.kind, container.pk)]
        if let name { query.append(("name", name)) }
        return try await all(APIImage.self, "cases/images/", query)
    }

    static func imageFields(_ image: APIImage) -> [String: String] {
        var fields = ["image.name": image.name, "image.pk": image.pk]
        if let m = image.modality?.modality { fields["image.modality"] = m }
        if let w = image.width { fields["image.width"] = String(w) }
        if let h = image.height { fields["image.height"] = String(h) }
        return fields
    }

    /// The item of one image file: its URL, and `file.name` from the URL's last segment.
    func fileItem(_ file: APIImageFile, of image: APIImage, fields: [String: String]) -> RemoteItem {
        var fields = fields
        let last = file.file.split(separator: "?").first.flatMap { $0.split(separator: "/").last }.map(String.init) ?? image.name
        fields["file.name"] = last.removingPercentEncoding ?? last
        fields["file.type"] = file.image_type ?? ""
        return RemoteItem(source: spec.name, id: "images/\(image.pk)/\(file.pk)", url: file.file, fields: fields)
    }
}
