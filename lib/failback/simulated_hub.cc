// The simulated IoT hub (drills and tests ONLY): an identity registry with twins, ETags, edge
// scopes, import jobs with IoT Hub's importMode rules and error codes, exports and notifications.
//
// On disk, in the hub's folder:
//   LOCK                 flock()ed while a SimulatedHub has the folder open (a second Open, in
//                        this or another process, gets kConflict "hub is locked")
//   snapshot.jsonl       header LF entry*          (written whole: temporary file and rename)
//   journal.jsonl        tx*                       (appended and flushed per change)
//   notifications.jsonl  message*                  (events moved out of the journal at snapshots)
// Grammar (every item one canonical JSON object on one line):
//   header  := {"format": 1, "name", "seed", "counter", "seq", "lastAt", "jobs": {job-id: job}}
//   job     := {"done": bool, "pos": n, "lines": n, "failed": n, "errors": [errorline...]}
//   entry   := {"id", "moduleId"?, "identity": {...}, "tags": {...}, "desired": {...},
//               "reported": {...}, "eTag", "twinETag", "version": n, "dAt": hlc, "rAt": hlc,
//               "gen": n}
//   tx      := {"s": seq, "c": counter, "t": last change time, "put": [entry...], "del": [[id,
//   moduleId]...],
//               "ev": [message...], "job"?: {"id", "pos"?, "err"?: errorline, "done"?: bool,
//               "lines"?: n, "failed"?: n}}
// Open reads the snapshot, then replays the journal's complete lines with s > the snapshot's seq
// (a torn last line, from a crash mid-write, is ignored). A snapshot is taken at the end of every
// import job and when the hub is closed: pending events are appended to notifications.jsonl, the
// snapshot is renamed into place, the journal is truncated. A crash between the append and the
// rename delivers those events again (at least once, like the Event Hubs route of a real hub).
// The journal is flushed to the OS per change, not fsynced: it survives a process crash, not a
// machine crash.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "lib/core/hash.h"
#include "lib/failback/files.h"
#include "lib/iothub/device_doc.h"
#include "reconcile/failback.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/line_reader.h"
#include "reconcile/operations.h"

namespace reconcile {

using nlohmann::json;

namespace {

constexpr int64_t kArgumentInvalid = 400004;
constexpr int64_t kNotFound = 404001;
constexpr int64_t kAlreadyExists = 409001;
constexpr int64_t kPreconditionFailed = 412001;
constexpr uint64_t kSnapshotEveryTx = 200000;  // journal lines before an automatic snapshot

std::string Quote(std::string_view text) { return json(std::string(text)).dump(); }

// "{...}" with `extra` members ("\"a\":1,...") added at the end.
std::string WithMembers(const std::string& object, const std::string& extra) {
  if (extra.empty()) return object;
  std::string out = object.substr(0, object.size() - 1);
  if (object.size() > 2) out += ',';
  out += extra;
  out += '}';
  return out;
}

// The members of an object's text without its braces.
std::string_view Inner(const std::string& object) {
  return std::string_view(object).substr(1, object.size() - 2);
}

struct HubError {
  int64_t code = 0;
  std::string status;  // never holds a key
};

}  // namespace

// ---- Impl -------------------------------------------------------------------------------------

class SimulatedHub::Impl {
 public:
  struct Entry {
    std::string identity = "{}";  // canonical object (status, statusReason, authentication, ...)
    std::string tags = "{}";
    std::string desired = "{}";
    std::string reported = "{}";
    std::string etag;
    std::string twin_etag;
    uint64_t version = 1;
    Hlc desired_at = 0;
    Hlc reported_at = 0;
    uint64_t generation = 0;  // edge devices: the scope's generation id (0: none)
  };

  struct Job {
    bool done = false;
    uint64_t pos = 0;
    uint64_t lines = 0;
    uint64_t failed = 0;
    std::vector<std::string> errors;
  };

  // One change: what it wrote, for the journal.
  struct Tx {
    std::vector<Key> puts;
    std::vector<Key> dels;
    std::vector<std::string> events;
    json job;  // null or the job progress object
  };

  Impl(std::string dir, SimulatedHubOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}

  ~Impl() {
    if (journal_ != nullptr) {
      Status s = Snapshot();
      (void)s;  // nothing to report to from a destructor; the journal still holds everything
      std::fclose(journal_);
    }
    if (lock_fd_ >= 0) close(lock_fd_);
  }

  Status Open();

  const std::string& name() const { return options_.name; }
  uint64_t size() const { return registry_.size(); }
  void set_notifications(bool on) { options_.notifications = on; }

  Status Export(const std::string& path);
  Result<ImportOutcome> Import(SimulatedHub& self, const std::string& job_id,
                               const std::vector<std::string>& files,
                               const std::string& errors_path);
  Status CreateDevice(const std::string& device_id, const std::string& module_id,
                      const std::string& doc_json, Hlc at);
  Status UpdateDevice(const std::string& device_id, const std::string& module_id,
                      const std::string& patch_json, Hlc at);
  Status DeleteDevice(const std::string& device_id, const std::string& module_id, Hlc at);
  Status WriteNotifications(const std::string& path) const;
  Result<std::string> GetRecord(const std::string& device_id, const std::string& module_id) const;
  Status Snapshot();
  Result<uint64_t> RestoreFromExport(const std::string& path, Hlc at);

 private:
  std::string PathOf(const char* name) const {
    return (std::filesystem::path(dir_) / name).string();
  }

  // ---- generators ----
  uint64_t Next() { return ++counter_; }
  uint64_t Random(uint64_t salt) {
    return failback::SplitMix64(options_.seed * 0x9e3779b97f4a7c15ULL ^
                                failback::SplitMix64(Next() + salt));
  }
  std::string NewETag() { return failback::Base64(std::to_string(Random(1) % 1000000000ULL)); }
  std::string NewTwinETag() {
    uint64_t v = Random(2);
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (56 - 8 * i)) & 0xff);
    return failback::Base64(bytes);
  }
  std::string NewKey() {
    std::string bytes(32, '\0');
    for (int lane = 0; lane < 4; ++lane) {
      uint64_t v = Random(3 + lane);
      for (int i = 0; i < 8; ++i) bytes[lane * 8 + i] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
    return failback::Base64(bytes);
  }
  uint64_t NewGeneration() { return Random(7) % 1000000000000000000ULL; }
  Hlc Now() {
    Hlc now =
        options_.clock
            ? options_.clock()
            : MakeHlc(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count()),
                      0);
    return now;
  }

  std::string ScopeOf(const std::string& device_id, uint64_t generation) const {
    std::string digits = std::to_string(generation);
    digits.insert(0, 18 - std::min<size_t>(18, digits.size()), '0');
    return std::string(iothub::kScopePrefix) + device_id + "-" + digits;
  }
  // A scope naming a device this hub has as an edge device becomes this hub's scope of it.
  json TranslateScope(const json& scope) const {
    if (!scope.is_string()) return scope;
    Result<std::string> id = ScopeDeviceId(scope.get<std::string>());
    if (!id.ok()) return scope;
    Result<Key> key = Key::Device(*id);
    if (!key.ok()) return scope;
    auto it = registry_.find(*key);
    if (it == registry_.end() || it->second.generation == 0) return scope;
    return ScopeOf(*id, it->second.generation);
  }

  // ---- persistence ----
  std::string EntryLine(const Key& key, const Entry& e) const;
  Status LoadEntry(const json& obj);
  Status Commit(Tx& tx);
  Status Replay(const json& tx);

  // ---- registry changes (in memory; recorded in tx) ----
  // Builds an identity object for `key` from a normalized document; `current` (may be null) gives
  // what the document leaves unknown.
  json MakeIdentity(const Key& key, const json& doc, bool auth_unknown, const json* current,
                    uint64_t* generation);
  void Put(const Key& key, Entry entry, Tx& tx);
  void Erase(const Key& key, Tx& tx);
  void Event(const Key& key, std::string_view op, json body, Hlc at, Tx& tx);
  json TwinBody(const Key& key, const Entry& e) const;
  json SectionWithMeta(const std::string& section, Hlc at, uint64_t version) const;

  std::optional<HubError> Create(const Key& key, const iothub::ExportDevice& dev,
                                 bool with_reported, Hlc at, Tx& tx);
  std::optional<HubError> UpdateIdentity(const Key& key, const iothub::ExportDevice& dev,
                                         const json& line, Hlc at, Tx& tx);
  std::optional<HubError> ReplaceTwin(const Key& key, const json& line, Hlc at, Tx& tx);
  void Delete(const Key& key, Hlc at, Tx& tx);
  void EnsureEdgeModules(const Key& device, Hlc at, Tx& tx);
  std::optional<HubError> ApplyImportLine(const json& line, Hlc at, Tx& tx, std::string* device_id,
                                          std::string* module_id);

  std::string dir_;
  SimulatedHubOptions options_;
  int lock_fd_ = -1;
  std::FILE* journal_ = nullptr;
  uint64_t journal_tx_ = 0;
  std::map<Key, Entry> registry_;
  std::map<std::string, Job> jobs_;
  std::vector<std::string> pending_events_;
  uint64_t counter_ = 0;
  uint64_t seq_ = 0;           // last journal sequence number
  uint64_t snapshot_seq_ = 0;  // sequence number the snapshot includes
  Hlc last_at_ = 0;
};

std::string SimulatedHub::Impl::EntryLine(const Key& key, const Entry& e) const {
  std::string out = "{\"id\":" + Quote(key.device_id());
  if (key.kind() == KeyKind::kModule) out += ",\"moduleId\":" + Quote(key.module_id());
  out += ",\"identity\":" + e.identity;
  out += ",\"tags\":" + e.tags;
  out += ",\"desired\":" + e.desired;
  out += ",\"reported\":" + e.reported;
  out += ",\"eTag\":" + Quote(e.etag);
  out += ",\"twinETag\":" + Quote(e.twin_etag);
  out += ",\"version\":" + std::to_string(e.version);
  out += ",\"dAt\":" + std::to_string(e.desired_at);
  out += ",\"rAt\":" + std::to_string(e.reported_at);
  out += ",\"gen\":" + std::to_string(e.generation);
  out += '}';
  return out;
}

Status SimulatedHub::Impl::LoadEntry(const json& obj) {
  const json* id = iothub::PresentMember(obj, "id");
  if (id == nullptr || !id->is_string()) return Status::Corruption("hub entry without id");
  const json* mid = iothub::PresentMember(obj, "moduleId");
  Result<Key> key = mid != nullptr ? Key::Module(id->get<std::string>(), mid->get<std::string>())
                                   : Key::Device(id->get<std::string>());
  if (!key.ok()) return Status::Corruption("hub entry: " + key.status().message());
  Entry e;
  try {
    e.identity = CanonicalJson(obj.at("identity"));
    e.tags = CanonicalJson(obj.at("tags"));
    e.desired = CanonicalJson(obj.at("desired"));
    e.reported = CanonicalJson(obj.at("reported"));
    e.etag = obj.at("eTag").get<std::string>();
    e.twin_etag = obj.at("twinETag").get<std::string>();
    e.version = obj.at("version").get<uint64_t>();
    e.desired_at = obj.at("dAt").get<uint64_t>();
    e.reported_at = obj.at("rAt").get<uint64_t>();
    e.generation = obj.at("gen").get<uint64_t>();
  } catch (const json::exception& ex) {
    return Status::Corruption(std::string("hub entry ") + key->ToString() + ": " + ex.what());
  }
  registry_[*key] = std::move(e);
  return Status::Ok();
}

Status SimulatedHub::Impl::Open() {
  RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(dir_));
  const std::string lock_path = PathOf("LOCK");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::IoError("cannot open '" + lock_path + "'");
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Conflict("hub is locked: '" + dir_ + "' is open in another SimulatedHub");
  }

  // Snapshot.
  const std::string snap_path = PathOf("snapshot.jsonl");
  if (failback::Exists(snap_path)) {
    std::ifstream in(snap_path, std::ios::binary);
    if (!in) return Status::IoError("cannot open '" + snap_path + "'");
    std::string line;
    bool header = true;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json obj = json::parse(line, nullptr, false);
      if (obj.is_discarded() || !obj.is_object()) {
        return Status::Corruption("'" + snap_path + "' holds a line that is not JSON");
      }
      if (header) {
        header = false;
        if (obj.value("format", 0) != 1) return Status::Unsupported("hub snapshot format");
        if (const json* n = iothub::PresentMember(obj, "name"); n && n->get<std::string>() != options_.name) {
          return Status::Conflict("the hub in '" + dir_ + "' is named '" + n->get<std::string>() +
                                  "', not '" + options_.name + "'");
        }
        counter_ = obj.value("counter", uint64_t{0});
        last_at_ = obj.value("lastAt", Hlc{0});
        seq_ = snapshot_seq_ = obj.value("seq", uint64_t{0});
        if (const json* jobs = iothub::PresentMember(obj, "jobs")) {
          for (auto it = jobs->begin(); it != jobs->end(); ++it) {
            Job job;
            job.done = it->value("done", false);
            job.pos = it->value("pos", uint64_t{0});
            job.lines = it->value("lines", uint64_t{0});
            job.failed = it->value("failed", uint64_t{0});
            if (const json* errs = iothub::PresentMember(*it, "errors")) {
              for (const json& e : *errs) job.errors.push_back(e.get<std::string>());
            }
            jobs_[it.key()] = std::move(job);
          }
        }
        continue;
      }
      RECONCILE_RETURN_IF_ERROR(LoadEntry(obj));
    }
  }

  // Journal.
  const std::string journal_path = PathOf("journal.jsonl");
  if (failback::Exists(journal_path)) {
    std::ifstream in(journal_path, std::ios::binary);
    if (!in) return Status::IoError("cannot open '" + journal_path + "'");
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no line ending: torn by a crash mid-write
      json tx = json::parse(line, nullptr, false);
      if (tx.is_discarded() || !tx.is_object()) break;
      const uint64_t s = tx.value("s", uint64_t{0});
      if (s <= snapshot_seq_) continue;
      RECONCILE_RETURN_IF_ERROR(Replay(tx));
      seq_ = s;
    }
  }
  // Rewrite the state as a snapshot: the journal starts empty (a torn tail is dropped).
  journal_ = std::fopen(journal_path.c_str(), "ab");
  if (journal_ == nullptr) return Status::IoError("cannot open '" + journal_path + "'");
  return Snapshot();
}

Status SimulatedHub::Impl::Replay(const json& tx) {
  counter_ = std::max(counter_, tx.value("c", uint64_t{0}));
  last_at_ = std::max(last_at_, tx.value("t", Hlc{0}));
  if (const json* puts = iothub::PresentMember(tx, "put")) {
    for (const json& e : *puts) RECONCILE_RETURN_IF_ERROR(LoadEntry(e));
  }
  if (const json* dels = iothub::PresentMember(tx, "del")) {
    for (const json& d : *dels) {
      Result<Key> key = d.size() > 1 && !d[1].get<std::string>().empty()
                            ? Key::Module(d[0].get<std::string>(), d[1].get<std::string>())
                            : Key::Device(d[0].get<std::string>());
      if (!key.ok()) return Status::Corruption("hub journal: " + key.status().message());
      registry_.erase(*key);
    }
  }
  if (const json* evs = iothub::PresentMember(tx, "ev")) {
    for (const json& e : *evs) pending_events_.push_back(CanonicalJson(e));
  }
  if (const json* job = iothub::PresentMember(tx, "job")) {
    Job& j = jobs_[job->at("id").get<std::string>()];
    if (const json* pos = iothub::PresentMember(*job, "pos")) j.pos = std::max(j.pos, pos->get<uint64_t>());
    if (const json* err = iothub::PresentMember(*job, "err")) {
      j.errors.push_back(err->get<std::string>());
      ++j.failed;
    }
    if (iothub::PresentMember(*job, "done")) {
      j.done = true;
      j.lines = job->value("lines", j.pos);
    }
  }
  return Status::Ok();
}

Status SimulatedHub::Impl::Commit(Tx& tx) {
  if (tx.puts.empty() && tx.dels.empty() && tx.events.empty() && tx.job.is_null()) {
    return Status::Ok();
  }
  std::string line = "{\"s\":" + std::to_string(++seq_) + ",\"c\":" + std::to_string(counter_) +
                     ",\"t\":" + std::to_string(last_at_);
  line += ",\"put\":[";
  bool first = true;
  for (const Key& key : tx.puts) {
    auto it = registry_.find(key);
    if (it == registry_.end()) continue;  // put, then erased in the same change
    if (!first) line += ',';
    first = false;
    line += EntryLine(key, it->second);
  }
  line += "],\"del\":[";
  first = true;
  for (const Key& key : tx.dels) {
    if (registry_.count(key) != 0) continue;  // erased, then made again in the same change
    if (!first) line += ',';
    first = false;
    line += "[" + Quote(key.device_id()) + "," +
            Quote(key.kind() == KeyKind::kModule ? key.module_id() : "") + "]";
  }
  line += "],\"ev\":[";
  for (size_t i = 0; i < tx.events.size(); ++i) {
    if (i > 0) line += ',';
    line += tx.events[i];
  }
  line += "]";
  if (!tx.job.is_null()) line += ",\"job\":" + CanonicalJson(tx.job);
  line += "}\n";
  if (std::fwrite(line.data(), 1, line.size(), journal_) != line.size() ||
      std::fflush(journal_) != 0) {
    return Status::IoError("cannot append to the hub journal in '" + dir_ + "'");
  }
  for (std::string& e : tx.events) pending_events_.push_back(std::move(e));
  tx = Tx();
  if (++journal_tx_ >= kSnapshotEveryTx) return Snapshot();
  return Status::Ok();
}

Status SimulatedHub::Impl::Snapshot() {
  // 1. Events leave the journal for the notifications file.
  if (!pending_events_.empty()) {
    const std::string path = PathOf("notifications.jsonl");
    std::FILE* f = std::fopen(path.c_str(), "ab");
    if (f == nullptr) return Status::IoError("cannot open '" + path + "'");
    bool ok = true;
    for (const std::string& e : pending_events_) {
      ok = ok && std::fwrite(e.data(), 1, e.size(), f) == e.size() && std::fputc('\n', f) != EOF;
    }
    ok = std::fflush(f) == 0 && ok;
    ok = std::fclose(f) == 0 && ok;
    if (!ok) return Status::IoError("cannot write '" + path + "'");
    pending_events_.clear();
  }
  // 2. The snapshot.
  json jobs = json::object();
  for (const auto& [id, job] : jobs_) {
    jobs[id] = {{"done", job.done},
                {"pos", job.pos},
                {"lines", job.lines},
                {"failed", job.failed},
                {"errors", job.errors}};
  }
  json header = {{"format", 1},         {"name", options_.name}, {"seed", options_.seed},
                 {"counter", counter_}, {"seq", seq_},           {"lastAt", last_at_},
                 {"jobs", jobs}};
  std::string text = CanonicalJson(header) + "\n";
  text.reserve(registry_.size() * 900);
  for (const auto& [key, e] : registry_) {
    text += EntryLine(key, e);
    text += '\n';
  }
  RECONCILE_RETURN_IF_ERROR(failback::WriteFileAtomic(PathOf("snapshot.jsonl"), text));
  snapshot_seq_ = seq_;
  // 3. The journal starts over.
  if (journal_ != nullptr) {
    if (ftruncate(fileno(journal_), 0) != 0) {
      return Status::IoError("cannot truncate the hub journal in '" + dir_ + "'");
    }
    std::rewind(journal_);
  }
  journal_tx_ = 0;
  return Status::Ok();
}

// ---- registry changes --------------------------------------------------------------------------

json SimulatedHub::Impl::MakeIdentity(const Key& key, const json& doc, bool auth_unknown,
                                      const json* current, uint64_t* generation) {
  const bool is_module = key.kind() == KeyKind::kModule;
  json id = json::object();
  const json* status = iothub::PresentMember(doc, "status");
  id["status"] = status ? *status : json("enabled");
  if (const json* r = iothub::PresentMember(doc, "statusReason")) id["statusReason"] = *r;

  // Authentication: unknown keeps the current one; sas without keys keeps the current keys, or
  // gets new ones from the hub.
  const json* cur_auth = current ? iothub::PresentMember(*current, "authentication") : nullptr;
  json auth = json::object();
  if (auth_unknown || iothub::PresentMember(doc, "authentication") == nullptr) {
    auth = cur_auth ? *cur_auth : json{{"type", "sas"}};
  } else {
    auth = *iothub::PresentMember(doc, "authentication");
    if (!auth.contains("type")) auth["type"] = "sas";
  }
  if (auth["type"] == "sas" && !auth.contains("symmetricKey")) {
    const json* cur_keys = cur_auth ? iothub::PresentMember(*cur_auth, "symmetricKey") : nullptr;
    if (cur_keys != nullptr) {
      auth["symmetricKey"] = *cur_keys;
    } else {
      auth["symmetricKey"] = {{"primaryKey", NewKey()}, {"secondaryKey", NewKey()}};
    }
  }
  id["authentication"] = std::move(auth);

  if (!is_module) {
    const json* caps = iothub::PresentMember(doc, "capabilities");
    const json* cur_caps = current ? iothub::PresentMember(*current, "capabilities") : nullptr;
    json c = caps ? *caps : cur_caps ? *cur_caps : json::object();
    if (!c.contains("iotEdge")) c["iotEdge"] = false;
    const bool edge = c["iotEdge"].get<bool>();
    id["capabilities"] = c;
    if (edge) {
      if (*generation == 0) *generation = NewGeneration() + 1;
      id["deviceScope"] = ScopeOf(key.device_id(), *generation);
    } else {
      *generation = 0;
      if (const json* s = iothub::PresentMember(doc, "deviceScope")) id["deviceScope"] = TranslateScope(*s);
    }
    if (const json* ps = iothub::PresentMember(doc, "parentScopes"); ps && ps->is_array() && !ps->empty()) {
      json out = json::array();
      for (const json& s : *ps) out.push_back(TranslateScope(s));
      id["parentScopes"] = std::move(out);
    }
  }
  return id;
}

void SimulatedHub::Impl::Put(const Key& key, Entry entry, Tx& tx) {
  registry_[key] = std::move(entry);
  tx.puts.push_back(key);
}

void SimulatedHub::Impl::Erase(const Key& key, Tx& tx) {
  registry_.erase(key);
  tx.dels.push_back(key);
}

json SimulatedHub::Impl::SectionWithMeta(const std::string& section, Hlc at,
                                         uint64_t version) const {
  json s = json::parse(section);
  s["$metadata"] = {{"$lastUpdated", FormatIso8601(at)}};
  s["$version"] = version;
  return s;
}

json SimulatedHub::Impl::TwinBody(const Key& key, const Entry& e) const {
  json id = json::parse(e.identity);
  json body = json::object();
  body["deviceId"] = key.device_id();
  if (key.kind() == KeyKind::kModule) body["moduleId"] = key.module_id();
  body["etag"] = e.twin_etag;
  body["version"] = e.version;
  body["status"] = id.value("status", "enabled");
  const json& auth = id["authentication"];
  body["authenticationType"] = auth.value("type", "sas");
  body["x509Thumbprint"] = auth.contains("x509Thumbprint") ? auth["x509Thumbprint"]
                                                           : json{{"primaryThumbprint", nullptr},
                                                                  {"secondaryThumbprint", nullptr}};
  if (key.kind() == KeyKind::kDevice) {
    for (const char* f : {"capabilities", "deviceScope", "parentScopes"}) {
      if (id.contains(f)) body[f] = id[f];
    }
  }
  body["tags"] = json::parse(e.tags);
  body["properties"] = {{"desired", SectionWithMeta(e.desired, e.desired_at, e.version)},
                        {"reported", SectionWithMeta(e.reported, e.reported_at, e.version)}};
  return body;
}

void SimulatedHub::Impl::Event(const Key& key, std::string_view op, json body, Hlc at, Tx& tx) {
  if (!options_.notifications) return;
  const bool lifecycle = op == "createDeviceIdentity" || op == "deleteDeviceIdentity";
  const std::string when = FormatIso8601(at);
  json props = {{"hubName", options_.name},
                {"deviceId", key.device_id()},
                {"opType", op},
                {"iothub-message-schema",
                 lifecycle ? "deviceLifecycleNotification" : "twinChangeNotification"},
                {"operationTimestamp", when}};
  json sys = {{"iothub-connection-device-id", key.device_id()},
              {"iothub-enqueuedtime", FormatIso8601(at + MakeHlc(1, 0))},
              {"iothub-message-source", lifecycle ? "deviceLifecycleEvents" : "twinChangeEvents"}};
  if (key.kind() == KeyKind::kModule) {
    props["moduleId"] = key.module_id();
    sys["iothub-connection-module-id"] = key.module_id();
  }
  json msg = {{"properties", std::move(props)},
              {"systemProperties", std::move(sys)},
              {"body", std::move(body)}};
  tx.events.push_back(CanonicalJson(msg));
}

void SimulatedHub::Impl::EnsureEdgeModules(const Key& device, Hlc at, Tx& tx) {
  for (const char* mid : {"$edgeAgent", "$edgeHub"}) {
    Key key = Key::Module(device.device_id(), mid).value();
    if (registry_.count(key) != 0) continue;
    Entry e;
    uint64_t gen = 0;
    e.identity = CanonicalJson(MakeIdentity(key, json::object(), true, nullptr, &gen));
    e.etag = NewETag();
    e.twin_etag = NewTwinETag();
    e.desired_at = e.reported_at = at;
    Put(key, e, tx);
    if (options_.notifications) Event(key, "createDeviceIdentity", TwinBody(key, e), at, tx);
  }
}

std::optional<HubError> SimulatedHub::Impl::Create(const Key& key, const iothub::ExportDevice& dev,
                                                   bool with_reported, Hlc at, Tx& tx) {
  if (registry_.count(key) != 0) {
    return HubError{kAlreadyExists,
                    "DeviceAlreadyExists: a " +
                        std::string(key.kind() == KeyKind::kModule ? "module" : "device") +
                        " with this id is already registered"};
  }
  if (key.kind() == KeyKind::kModule &&
      registry_.count(Key::Device(key.device_id()).value()) == 0) {
    return HubError{kNotFound, "DeviceNotFound: the module's device is not registered"};
  }
  Entry e;
  uint64_t gen = 0;
  json identity = MakeIdentity(key, dev.doc, dev.auth_unknown, nullptr, &gen);
  e.identity = CanonicalJson(identity);
  e.generation = gen;
  if (const json* tags = iothub::PresentMember(dev.doc, "tags")) e.tags = CanonicalJson(*tags);
  if (const json* props = iothub::PresentMember(dev.doc, "properties")) {
    if (const json* d = iothub::PresentMember(*props, "desired")) e.desired = CanonicalJson(*d);
    if (with_reported) {
      if (const json* r = iothub::PresentMember(*props, "reported")) e.reported = CanonicalJson(*r);
    }
  }
  e.etag = NewETag();
  e.twin_etag = NewTwinETag();
  e.desired_at = e.reported_at = at;
  Put(key, e, tx);
  if (options_.notifications) Event(key, "createDeviceIdentity", TwinBody(key, e), at, tx);
  if (gen != 0) EnsureEdgeModules(key, at, tx);
  return std::nullopt;
}

std::optional<HubError> SimulatedHub::Impl::UpdateIdentity(const Key& key,
                                                           const iothub::ExportDevice& dev,
                                                           const json& line, Hlc at, Tx& tx) {
  Entry e = registry_.at(key);
  json current = json::parse(e.identity);
  uint64_t gen = e.generation;
  json identity = MakeIdentity(key, dev.doc, dev.auth_unknown, &current, &gen);
  e.identity = CanonicalJson(identity);
  e.generation = gen;
  e.etag = NewETag();
  Put(key, e, tx);
  if (gen != 0) EnsureEdgeModules(key, at, tx);
  return ReplaceTwin(key, line, at, tx);
}

std::optional<HubError> SimulatedHub::Impl::ReplaceTwin(const Key& key, const json& line, Hlc at,
                                                        Tx& tx) {
  Entry e = registry_.at(key);
  bool changed = false;
  json body = json::object();
  if (const json* tags = iothub::PresentMember(line, "tags")) {
    std::string t = CanonicalJson(iothub::StripNulls(*tags));
    if (t != e.tags) {
      e.tags = t;
      changed = true;
    }
    body["tags"] = json::parse(e.tags);
  }
  const json* props = iothub::PresentMember(line, "properties");
  if (const json* d = props ? iothub::PresentMember(*props, "desired") : nullptr) {
    std::string s = CanonicalJson(iothub::StripNulls(iothub::StripSectionMeta(*d)));
    if (s != e.desired) {
      e.desired = s;
      e.desired_at = at;
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  ++e.version;
  e.twin_etag = NewTwinETag();
  body["version"] = e.version;
  body["properties"] = {{"desired", SectionWithMeta(e.desired, e.desired_at, e.version)}};
  Put(key, e, tx);
  Event(key, "replaceTwin", std::move(body), at, tx);
  return std::nullopt;
}

void SimulatedHub::Impl::Delete(const Key& key, Hlc at, Tx& tx) {
  if (key.kind() == KeyKind::kDevice) {
    std::vector<Key> modules;
    for (auto it = registry_.upper_bound(key);
         it != registry_.end() && it->first.device_id() == key.device_id(); ++it) {
      modules.push_back(it->first);
    }
    for (const Key& m : modules) {
      Erase(m, tx);
      Event(m, "deleteDeviceIdentity",
            json{{"deviceId", m.device_id()}, {"moduleId", m.module_id()}}, at, tx);
    }
  }
  Erase(key, tx);
  json body = {{"deviceId", key.device_id()}};
  if (key.kind() == KeyKind::kModule) body["moduleId"] = key.module_id();
  Event(key, "deleteDeviceIdentity", std::move(body), at, tx);
}

std::optional<HubError> SimulatedHub::Impl::ApplyImportLine(const json& line, Hlc at, Tx& tx,
                                                            std::string* device_id,
                                                            std::string* module_id) {
  if (const json* id = iothub::PresentMember(line, "id"); id && id->is_string())
    *device_id = id->get<std::string>();
  if (const json* mid = iothub::PresentMember(line, "moduleId"); mid && mid->is_string()) {
    *module_id = mid->get<std::string>();
  }
  iothub::ExportDevice dev;
  if (auto bad = iothub::ExportDeviceFromJson(line, &dev)) {
    return HubError{
        kArgumentInvalid,
        "ArgumentInvalid: " + std::string(RejectReasonName(bad->reason)) + ": " + bad->detail};
  }
  const Key& key = *dev.key;
  ImportMode mode = ImportMode::kCreateOrUpdate;
  if (const json* m = iothub::PresentMember(line, "importMode"))
    mode = ParseImportMode(m->get<std::string>()).value();
  auto it = registry_.find(key);
  const bool exists = it != registry_.end();
  const std::string what = key.kind() == KeyKind::kModule ? "module" : "device";
  const HubError not_found{kNotFound, (key.kind() == KeyKind::kModule ? "ModuleNotFound: the "
                                                                      : "DeviceNotFound: the ") +
                                          what + " is not registered"};
  const HubError etag_mismatch{kPreconditionFailed,
                               "PreconditionFailed: the eTag does not match the " + what + "'s"};
  const HubError twin_mismatch{kPreconditionFailed,
                               "PreconditionFailed: the twinETag does not match the twin's"};
  switch (mode) {
    case ImportMode::kCreate:
      return Create(key, dev, false, at, tx);
    case ImportMode::kCreateOrUpdate:
      if (!exists) return Create(key, dev, false, at, tx);
      return UpdateIdentity(key, dev, line, at, tx);
    case ImportMode::kUpdate:
      if (!exists) return not_found;
      return UpdateIdentity(key, dev, line, at, tx);
    case ImportMode::kUpdateIfMatchETag:
      if (!exists) return not_found;
      if (dev.etag != it->second.etag) return etag_mismatch;
      return UpdateIdentity(key, dev, line, at, tx);
    case ImportMode::kUpdateTwin:
      if (!exists) return not_found;
      return ReplaceTwin(key, line, at, tx);
    case ImportMode::kUpdateTwinIfMatchETag:
      if (!exists) return not_found;
      if (dev.twin_etag != it->second.twin_etag) return twin_mismatch;
      return ReplaceTwin(key, line, at, tx);
    case ImportMode::kDelete:
      if (!exists) return not_found;
      Delete(key, at, tx);
      return std::nullopt;
    case ImportMode::kDeleteIfMatchETag:
      if (!exists) return not_found;
      if (dev.etag != it->second.etag) return etag_mismatch;
      Delete(key, at, tx);
      return std::nullopt;
  }
  return std::nullopt;
}

// ---- the service API --------------------------------------------------------------------------

Status SimulatedHub::Impl::Export(const std::string& path) {
  std::string text;
  text.reserve(registry_.size() * 1000);
  for (const auto& [key, e] : registry_) {
    const bool is_module = key.kind() == KeyKind::kModule;
    std::string line = "{\"id\":" + Quote(key.device_id());
    if (is_module) line += ",\"moduleId\":" + Quote(key.module_id());
    line += ",\"eTag\":" + Quote(e.etag);
    std::string_view identity = Inner(e.identity);
    if (!identity.empty()) {
      line += ',';
      line += identity;
    }
    if (!is_module) {
      if (e.identity.find("\"deviceScope\"") == std::string::npos) line += ",\"deviceScope\":\"\"";
      if (e.identity.find("\"parentScopes\"") == std::string::npos) line += ",\"parentScopes\":[]";
    }
    line += ",\"twinETag\":" + Quote(e.twin_etag);
    line += ",\"tags\":" + e.tags;
    const std::string meta_d = "\"$metadata\":{\"$lastUpdated\":\"" + FormatIso8601(e.desired_at) +
                               "\"},\"$version\":" + std::to_string(e.version);
    const std::string meta_r = "\"$metadata\":{\"$lastUpdated\":\"" + FormatIso8601(e.reported_at) +
                               "\"},\"$version\":" + std::to_string(e.version);
    line += ",\"properties\":{\"desired\":" + WithMembers(e.desired, meta_d) +
            ",\"reported\":" + WithMembers(e.reported, meta_r) + "}}";
    text += line;
    text += '\n';
  }
  return failback::WriteFileAtomic(path, text);
}

Result<ImportOutcome> SimulatedHub::Impl::Import(SimulatedHub& self, const std::string& job_id,
                                                 const std::vector<std::string>& files,
                                                 const std::string& errors_path) {
  if (job_id.empty()) return Status::InvalidInput("import: a job id is required");
  auto write_errors = [&](const Job& job) -> Status {
    std::string text;
    for (const std::string& e : job.errors) {
      text += e;
      text += '\n';
    }
    return failback::WriteFileAtomic(errors_path, text);
  };
  auto found = jobs_.find(job_id);
  if (found != jobs_.end() && found->second.done) {
    // A finished job is not run again: its outcome is reported as it was.
    RECONCILE_RETURN_IF_ERROR(write_errors(found->second));
    return ImportOutcome{true, found->second.lines, found->second.failed};
  }
  if (found == jobs_.end()) {
    // The hook runs before the job is recorded: if the process dies in between, the job has not
    // started and the hook runs again when it does.
    if (options_.before_import) options_.before_import(self);
    Tx start;
    start.job = {{"id", job_id}, {"pos", 0}};
    jobs_[job_id] = Job();
    RECONCILE_RETURN_IF_ERROR(Commit(start));
  }
  Job& job = jobs_[job_id];
  uint64_t index = 0;
  for (const std::string& file : files) {
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(file);
    if (!reader.ok()) return reader.status().WithContext("import job " + job_id);
    Line line;
    while (true) {
      Result<bool> got = (*reader)->Next(&line, nullptr);
      if (!got.ok()) return got.status().WithContext("import job " + job_id);
      if (!*got) break;
      if (index++ < job.pos) continue;  // applied before this process stopped
      json obj = json::parse(line.text, nullptr, false);
      if (obj.is_discarded() || !obj.is_object()) {
        return Status::InvalidInput("import job " + job_id + ": " + file + ":" +
                                    std::to_string(line.number) + ": not a JSON object");
      }
      Tx tx;
      std::string device_id, module_id;
      const Hlc at = std::max(Now(), last_at_ + 1);
      last_at_ = at;
      std::optional<HubError> error = ApplyImportLine(obj, at, tx, &device_id, &module_id);
      tx.job = {{"id", job_id}, {"pos", index}};
      if (error) {
        json e = {
            {"deviceId", device_id}, {"errorCode", error->code}, {"errorStatus", error->status}};
        if (!module_id.empty()) e["moduleId"] = module_id;
        std::string text = CanonicalJson(e);
        tx.job["err"] = text;
        job.errors.push_back(std::move(text));
        ++job.failed;
      }
      job.pos = index;
      RECONCILE_RETURN_IF_ERROR(Commit(tx));
    }
  }
  Tx done;
  done.job = {{"id", job_id}, {"done", true}, {"lines", index}};
  job.done = true;
  job.lines = index;
  RECONCILE_RETURN_IF_ERROR(Commit(done));
  RECONCILE_RETURN_IF_ERROR(Snapshot());
  RECONCILE_RETURN_IF_ERROR(write_errors(job));
  return ImportOutcome{true, job.lines, job.failed};
}

Status SimulatedHub::Impl::CreateDevice(const std::string& device_id, const std::string& module_id,
                                        const std::string& doc_json, Hlc at) {
  json doc = json::parse(doc_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidInput("CreateDevice: the document is not a JSON object");
  }
  doc["id"] = device_id;
  if (!module_id.empty()) doc["moduleId"] = module_id;
  iothub::ExportDevice dev;
  if (auto bad = iothub::ExportDeviceFromJson(doc, &dev)) {
    return Status::InvalidInput("CreateDevice " + device_id + ": " + bad->detail);
  }
  last_at_ = std::max(last_at_, at);
  Tx tx;
  if (auto error = Create(*dev.key, dev, true, at, tx)) {
    return error->code == kAlreadyExists ? Status::Conflict(error->status)
                                         : Status::NotFound(error->status);
  }
  return Commit(tx);
}

Status SimulatedHub::Impl::UpdateDevice(const std::string& device_id, const std::string& module_id,
                                        const std::string& patch_json, Hlc at) {
  json patch = json::parse(patch_json, nullptr, false);
  if (patch.is_discarded() || !patch.is_object()) {
    return Status::InvalidInput("UpdateDevice: the patch is not a JSON object");
  }
  Result<Key> key = module_id.empty() ? Key::Device(device_id) : Key::Module(device_id, module_id);
  if (!key.ok()) return key.status();
  auto it = registry_.find(*key);
  if (it == registry_.end()) return Status::NotFound("UpdateDevice: no " + key->ToString());
  Entry e = it->second;
  json identity = json::parse(e.identity);
  json tags = json::parse(e.tags);
  json desired = json::parse(e.desired);
  json reported = json::parse(e.reported);

  // The whole document after the patch, validated as the hub validates an import line.
  bool identity_changed = false;
  json doc = identity;
  for (const char* f : {"status", "statusReason", "authentication", "capabilities", "deviceScope",
                        "parentScopes"}) {
    if (!patch.contains(f)) continue;
    identity_changed = true;
    if (patch[f].is_null()) {
      doc.erase(f);
    } else {
      doc[f] = patch[f];
    }
  }
  json twin_patch = json::object();
  json new_tags = tags, new_desired = desired, new_reported = reported;
  if (const json* t = iothub::PresentMember(patch, "tags")) {
    new_tags.merge_patch(*t);
    twin_patch["tags"] = *t;
  }
  if (const json* props = iothub::PresentMember(patch, "properties")) {
    if (const json* d = iothub::PresentMember(*props, "desired")) new_desired.merge_patch(*d);
    if (const json* r = iothub::PresentMember(*props, "reported")) new_reported.merge_patch(*r);
  }
  doc["id"] = device_id;
  if (!module_id.empty()) doc["moduleId"] = module_id;
  doc["tags"] = new_tags;
  doc["properties"] = {{"desired", new_desired}, {"reported", new_reported}};
  iothub::ExportDevice dev;
  if (auto bad = iothub::ExportDeviceFromJson(doc, &dev)) {
    return Status::InvalidInput("UpdateDevice " + key->ToString() + ": " + bad->detail);
  }
  last_at_ = std::max(last_at_, at);
  Tx tx;
  if (identity_changed) {
    uint64_t gen = e.generation;
    e.identity = CanonicalJson(MakeIdentity(*key, dev.doc, dev.auth_unknown, &identity, &gen));
    e.generation = gen;
    e.etag = NewETag();
  }
  json body = json::object();
  bool twin_changed = false;
  if (CanonicalJson(new_tags) != e.tags) {
    e.tags = CanonicalJson(new_tags);
    body["tags"] = twin_patch["tags"];
    twin_changed = true;
  }
  json props_body = json::object();
  const json* pprops = iothub::PresentMember(patch, "properties");
  if (CanonicalJson(new_desired) != e.desired) {
    e.desired = CanonicalJson(new_desired);
    e.desired_at = at;
    props_body["desired"] = (*pprops)["desired"];
    twin_changed = true;
  }
  if (CanonicalJson(new_reported) != e.reported) {
    e.reported = CanonicalJson(new_reported);
    e.reported_at = at;
    props_body["reported"] = (*pprops)["reported"];
    twin_changed = true;
  }
  if (twin_changed) {
    ++e.version;
    e.twin_etag = NewTwinETag();
    for (auto p = props_body.begin(); p != props_body.end(); ++p) {
      p.value()["$metadata"] = {{"$lastUpdated", FormatIso8601(at)}};
      p.value()["$version"] = e.version;
    }
    if (!props_body.empty()) body["properties"] = std::move(props_body);
    body["version"] = e.version;
  }
  if (!identity_changed && !twin_changed) return Status::Ok();
  const uint64_t gen = e.generation;
  Put(*key, std::move(e), tx);
  if (gen != 0) EnsureEdgeModules(*key, at, tx);
  if (twin_changed) Event(*key, "updateTwin", std::move(body), at, tx);
  return Commit(tx);
}

Status SimulatedHub::Impl::DeleteDevice(const std::string& device_id, const std::string& module_id,
                                        Hlc at) {
  Result<Key> key = module_id.empty() ? Key::Device(device_id) : Key::Module(device_id, module_id);
  if (!key.ok()) return key.status();
  if (registry_.count(*key) == 0) return Status::NotFound("DeleteDevice: no " + key->ToString());
  last_at_ = std::max(last_at_, at);
  Tx tx;
  Delete(*key, at, tx);
  return Commit(tx);
}

Status SimulatedHub::Impl::WriteNotifications(const std::string& path) const {
  std::string text;
  const std::string file = (std::filesystem::path(dir_) / "notifications.jsonl").string();
  if (failback::Exists(file)) {
    Result<std::string> delivered = failback::ReadFile(file);
    if (!delivered.ok()) return delivered.status();
    text = std::move(*delivered);
  }
  for (const std::string& e : pending_events_) {
    text += e;
    text += '\n';
  }
  return failback::WriteFileAtomic(path, text);
}

Result<std::string> SimulatedHub::Impl::GetRecord(const std::string& device_id,
                                                  const std::string& module_id) const {
  Result<Key> key = module_id.empty() ? Key::Device(device_id) : Key::Module(device_id, module_id);
  if (!key.ok()) return key.status();
  auto it = registry_.find(*key);
  if (it == registry_.end()) return Status::NotFound("no " + key->ToString());
  const Entry& e = it->second;
  json doc = json::parse(e.identity);
  doc["tags"] = json::parse(e.tags);
  doc["properties"] = {{"desired", json::parse(e.desired)}, {"reported", json::parse(e.reported)}};
  doc["eTag"] = e.etag;
  doc["twinETag"] = e.twin_etag;
  return CanonicalJson(doc);
}

Result<uint64_t> SimulatedHub::Impl::RestoreFromExport(const std::string& path, Hlc at) {
  if (!registry_.empty()) {
    return Status::Conflict("RestoreFromExport: the hub in '" + dir_ + "' is not empty");
  }
  Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::vector<iothub::ExportDevice> devices;
  Line line;
  while (true) {
    Result<bool> got = (*reader)->Next(&line, nullptr);
    if (!got.ok()) return got.status();
    if (!*got) break;
    iothub::ExportDevice dev;
    if (auto bad = iothub::ParseExportDevice(line.text, &dev)) {
      return Status::InvalidInput(path + ":" + std::to_string(line.number) + ": " + bad->detail);
    }
    devices.push_back(std::move(dev));
  }
  // Edge devices first, so every scope naming a parent is rewritten to this hub's scope of it.
  auto is_edge = [](const iothub::ExportDevice& d) {
    const json* caps = iothub::PresentMember(d.doc, "capabilities");
    const json* edge = caps ? iothub::PresentMember(*caps, "iotEdge") : nullptr;
    return edge != nullptr && edge->is_boolean() && edge->get<bool>();
  };
  Tx tx;  // not journaled: the snapshot below is the only write
  for (int pass = 0; pass < 2; ++pass) {
    for (const iothub::ExportDevice& dev : devices) {
      if ((pass == 0) != (dev.key->kind() == KeyKind::kDevice && is_edge(dev))) continue;
      Entry e;
      uint64_t gen = 0;
      e.identity = CanonicalJson(MakeIdentity(*dev.key, dev.doc, dev.auth_unknown, nullptr, &gen));
      e.generation = gen;
      if (const json* tags = iothub::PresentMember(dev.doc, "tags")) e.tags = CanonicalJson(*tags);
      if (const json* props = iothub::PresentMember(dev.doc, "properties")) {
        if (const json* d = iothub::PresentMember(*props, "desired")) e.desired = CanonicalJson(*d);
        if (const json* r = iothub::PresentMember(*props, "reported")) e.reported = CanonicalJson(*r);
      }
      e.etag = NewETag();
      e.twin_etag = NewTwinETag();
      e.desired_at = e.reported_at = at;
      registry_[*dev.key] = std::move(e);
    }
  }
  RECONCILE_RETURN_IF_ERROR(Snapshot());
  return static_cast<uint64_t>(devices.size());
}

// ---- SimulatedHub -----------------------------------------------------------------------------

Result<std::unique_ptr<SimulatedHub>> SimulatedHub::Open(const std::string& dir,
                                                         SimulatedHubOptions options) {
  if (dir.empty()) return Status::InvalidInput("SimulatedHub: a folder is required");
  if (options.name.empty()) return Status::InvalidInput("SimulatedHub: a name is required");
  auto impl = std::make_unique<Impl>(dir, std::move(options));
  RECONCILE_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<SimulatedHub>(new SimulatedHub(std::move(impl)));
}

SimulatedHub::SimulatedHub(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SimulatedHub::~SimulatedHub() = default;

std::string SimulatedHub::name() const { return impl_->name(); }

Status SimulatedHub::Export(const std::string& path) { return impl_->Export(path); }

Result<ImportOutcome> SimulatedHub::Import(const std::string& job_id,
                                           const std::vector<std::string>& files,
                                           const std::string& errors_path) {
  return impl_->Import(*this, job_id, files, errors_path);
}

Status SimulatedHub::CreateDevice(const std::string& device_id, const std::string& module_id,
                                  const std::string& doc_json, Hlc at) {
  return impl_->CreateDevice(device_id, module_id, doc_json, at);
}

Status SimulatedHub::UpdateDevice(const std::string& device_id, const std::string& module_id,
                                  const std::string& patch_json, Hlc at) {
  return impl_->UpdateDevice(device_id, module_id, patch_json, at);
}

Status SimulatedHub::DeleteDevice(const std::string& device_id, const std::string& module_id,
                                  Hlc at) {
  return impl_->DeleteDevice(device_id, module_id, at);
}

Status SimulatedHub::WriteNotifications(const std::string& path) const {
  return impl_->WriteNotifications(path);
}

uint64_t SimulatedHub::size() const { return impl_->size(); }

void SimulatedHub::SetNotifications(bool on) { impl_->set_notifications(on); }

Result<std::string> SimulatedHub::GetRecord(const std::string& device_id,
                                            const std::string& module_id) const {
  return impl_->GetRecord(device_id, module_id);
}

Status SimulatedHub::Flush() { return impl_->Snapshot(); }

Result<uint64_t> SimulatedHub::RestoreFromExport(const std::string& export_path, Hlc at) {
  return impl_->RestoreFromExport(export_path, at);
}

}  // namespace reconcile
