import Foundation

/// JSON shapes of the Grand Challenge API, in the server serializers' field order. gcapi's models
/// require every field, so nullable ones are written as `null`, never left out (api/grand-challenge.md §4).
struct GCSerializer {
    /// Origin plus `/api/v1/`, e.g. `https://127.0.0.1:40123/api/v1/`.
    let api: String
    let origin: String
    let data: GCData

    static let seedDate = "2020-04-20T10:00:00.000000Z"

    func socket(_ s: GCSocket) -> JSON {
        .object([("title", .string(s.title)), ("description", .string("")), ("slug", .string(s.slug)), ("kind", .string(s.kind)),
                 ("pk", .int(Int64(s.pk))), ("default_value", .null), ("super_kind", .string(s.superKind)),
                 ("relative_path", .string(s.relativePath)),
                 ("overlay_segments", s.kind == "Segmentation" ? .array(lobeSegments) : .null), ("look_up_table", .null)])
    }

    /// The five lobes of a lobe mask (voxel value -> name).
    var lobeSegments: [JSON] {
        ["left upper lobe", "left lower lobe", "right upper lobe", "right middle lobe", "right lower lobe"].enumerated().map {
            .object([("name", .string($0.element)), ("visible", true), ("voxel_value", .int(Int64($0.offset + 1)))])
        }
    }

    func imageURL(_ pk: String) -> String { api + "cases/images/\(pk)/" }

    /// `/media/images/<pk[0:2]>/<pk[2:4]>/<image pk>/<file pk>/<name>` as grand-challenge.org names files.
    func fileURL(_ image: GCImage) -> String {
        let pk = Array(image.pk)
        return origin + "/media/images/\(String(pk[0..<2]))/\(String(pk[2..<4]))/\(image.pk)/\(image.filePK)/"
            + (image.name.addingPercentEncoding(withAllowedCharacters: GCSerializer.nameAllowed) ?? image.name)
    }

    /// Characters a file name keeps in its URL: a `/` in a (hostile) name is escaped, not a path.
    static let nameAllowed: CharacterSet = {
        var set = CharacterSet.urlPathAllowed
        set.remove("/")
        return set
    }()

    func image(_ i: GCImage) -> JSON {
        let shape: JSON = [.int(Int64(i.depth)), .int(Int64(i.height)), .int(Int64(i.width))]
        let file = JSON.object([("pk", .string(i.filePK)), ("image", .string(imageURL(i.pk))), ("file", .string(fileURL(i))),
                                ("image_type", "MHD")])
        return .object([
            ("pk", .string(i.pk)), ("name", .string(i.name)), ("files", [file]), ("dicom_image_set", .null),
            ("width", .int(Int64(i.width))), ("height", .int(Int64(i.height))), ("depth", .int(Int64(i.depth))),
            ("color_space", "GRAY"), ("modality", i.modality.map { .object([("modality", .string($0))]) } ?? .null),
            ("eye_choice", "NA"), ("stereoscopic_choice", .null), ("field_of_view", .null),
            ("shape_without_color", shape), ("shape", shape),
            ("voxel_width_mm", .double(0.7)), ("voxel_height_mm", .double(0.7)), ("voxel_depth_mm", .double(1.25)),
            ("api_url", .string(imageURL(i.pk))), ("window_center", i.modality == "CT" ? .double(-600) : .null),
            ("window_width", i.modality == "CT" ? .double(1500) : .null), ("segments", .null),
        ])
    }

    /// A socket value as reads show it (full socket object under both `interface` and `socket`).
    func value(_ v: GCValue) -> JSON {
        let s = data.socket(v.socket).map(socket) ?? .null
        return .object([("interface", s), ("socket", s), ("value", v.value ?? .null), ("file", .null),
                        ("image", v.imagePK.map { .string(imageURL($0)) } ?? .null), ("pk", .int(Int64(v.pk)))])
    }

    /// A socket value as write responses show it (socket slug only).
    func valuePost(_ v: GCValue) -> JSON {
        .object([("interface", .string(v.socket)), ("value", v.value ?? .null), ("file", .null),
                 ("image", v.imagePK.map { .string(imageURL($0)) } ?? .null), ("pk", .int(Int64(v.pk))), ("image_name", .null)])
    }

    func archive(_ a: GCArchive) -> JSON {
        .object([("pk", .string(a.pk)), ("title", .string(a.title)), ("logo", .string(origin + "/static/images/archive.png")),
                 ("description", .string(a.description)), ("api_url", .string(api + "archives/\(a.pk)/")),
                 ("url", .string(origin + "/archives/\(a.slug)/"))])
    }

    func archiveItem(_ item: GCArchiveItem, post: Bool = false) -> JSON {
        .object([("pk", .string(item.pk)), ("title", .string(item.title)), ("archive", .string(api + "archives/\(item.archivePK)/")),
                 ("values", .array(item.values.map(post ? valuePost : value))), ("hanging_protocol", .null),
                 ("optional_hanging_protocols", []), ("view_content", .object([]))])
    }

    func readerStudy(_ r: GCReaderStudy) -> JSON {
        .object([("api_url", .string(api + "reader-studies/\(r.pk)/")), ("url", .string(origin + "/reader-studies/\(r.slug)/")),
                 ("slug", .string(r.slug)), ("logo", .string(origin + "/static/images/reader-study.png")),
                 ("description", .string(r.description)), ("help_text_safe", ""), ("pk", .string(r.pk)), ("questions", []),
                 ("title_safe", .string(r.title)), ("is_educational", false), ("instant_verification", false),
                 ("has_ground_truth", false), ("allow_answer_modification", true), ("enable_autosaving", true),
                 ("allow_case_navigation", true), ("allow_show_all_annotations", false), ("roll_over_answers_for_n_cases", 0),
                 ("end_of_study_text_safe", "")])
    }

    func displaySet(_ d: GCDisplaySet, post: Bool = false) -> JSON {
        let study = data.readerStudy(pk: d.readerStudyPK)
        let index = data.displaySets.filter { $0.readerStudyPK == d.readerStudyPK }.sorted { $0.order < $1.order }.firstIndex { $0.pk == d.pk }
        return .object([
            ("pk", .string(d.pk)), ("title", .string(d.title)), ("title_safe", .string(d.title)),
            // Reads link the reader study; writes name it by slug.
            ("reader_study", post ? .optional(study?.slug) : .string(api + "reader-studies/\(d.readerStudyPK)/")),
            ("values", .array(d.values.map(post ? valuePost : value))), ("order", .int(Int64(d.order))),
            ("api_url", .string(api + "reader-studies/display-sets/\(d.pk)/")), ("hanging_protocol", .null),
            ("optional_hanging_protocols", []), ("view_content", .object([])), ("description", ""),
            ("descriptions_map_safe", .object([])), ("index", index.map { .int(Int64($0)) } ?? .null),
        ])
    }

    func algorithm(_ a: GCAlgorithm) -> JSON {
        let inputs = a.inputs.compactMap { data.socket($0) }.map(socket)
        let outputs = a.outputs.compactMap { data.socket($0) }.map(socket)
        return .object([("api_url", .string(api + "algorithms/\(a.pk)/")), ("url", .string(origin + "/algorithms/\(a.slug)/")),
                        ("description", .string(a.description)), ("pk", .string(a.pk)), ("title", .string(a.title)),
                        ("logo", .string(origin + "/static/images/algorithm.png")), ("slug", .string(a.slug)),
                        ("average_duration", .double(95.5)),
                        ("interfaces", [.object([("inputs", .array(inputs)), ("outputs", .array(outputs))])])])
    }

    func algorithmImage(_ a: GCAlgorithm) -> JSON {
        .object([("pk", .string(a.imagePK)), ("url", .string(origin + "/algorithms/\(a.slug)/images/\(a.imagePK)/")),
                 ("api_url", .string(api + "algorithms/images/\(a.imagePK)/")), ("algorithm", .string(api + "algorithms/\(a.pk)/")),
                 ("created", .string(GCSerializer.seedDate)), ("import_status", "Completed"), ("image", .null)])
    }

    func job(_ j: GCJob, now: Date) -> JSON {
        let status = data.status(of: j, now: now)
        let algorithm = data.algorithm(pk: j.algorithmPK)
        let done = j.finished
        var fields: [(String, JSON)] = [
            ("pk", .string(j.pk)), ("url", .string(origin + "/algorithms/\(algorithm?.slug ?? "-")/jobs/\(j.pk)/")),
            ("api_url", .string(api + "algorithms/jobs/\(j.pk)/")),
            ("algorithm_image", .string(api + "algorithms/images/\(algorithm?.imagePK ?? "-")/")),
            ("inputs", .array(j.inputs.map(value))), ("outputs", .array(j.outputs.map(value))), ("status", .string(status)),
            ("hanging_protocol", .null), ("optional_hanging_protocols", []), ("view_content", .object([])),
            ("exec_duration", done ? .string(GCSerializer.duration(j.step)) : .null),
            ("invoke_duration", done ? .string(GCSerializer.duration(j.step)) : .null),
            ("algorithm", .string(api + "algorithms/\(j.algorithmPK)/")),
        ]
        // Not in grand-challenge.org's serializer: the sandbox says why a job failed (clients ignore extra keys).
        if status == "Failed" { fields.append(("error_message", .optional(j.failure))) }
        return .object(fields)
    }

    func jobPost(_ j: GCJob) -> JSON {
        .object([("pk", .string(j.pk)), ("inputs", .array(j.inputs.map(valuePost))), ("status", "Validating inputs")])
    }

    func upload(_ u: GCUpload, extra: [(String, JSON)] = []) -> JSON {
        .object([("pk", .string(u.pk)), ("created", .string(GCSerializer.timestamp(u.created))), ("filename", .string(u.filename)),
                 ("key", .string("uploads/\(GCData.userID)/\(u.pk)")), ("s3_upload_id", .string(u.s3UploadID)),
                 ("status", .string(u.status)), ("api_url", .string(api + "uploads/\(u.pk)/"))] + extra)
    }

    /// ISO-8601 with microseconds, as Django REST framework prints datetimes.
    static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        let micros = Int((date.timeIntervalSince1970 - Double(t)) * 1_000_000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, max(0, micros))
    }

    /// Django's `duration_iso_string`: `P0DT00H01M30S`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        return String(format: "P%dDT%02dH%02dM%02dS", s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60)
    }
}
