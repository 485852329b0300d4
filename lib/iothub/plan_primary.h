// Internal: what the plan keeps of one line of the primary's export — the record's key and the
// hashes it compares the merged record with (plan_text.h), its place among IoT Edge devices and its
// own scope. The line itself is read again (by offset) only for the records a line is written for.
//
// Two readings give the same PrimaryRecord:
// - the exact one: ParseExportDevice's document (nlohmann), hashed part by part;
// - the fast one: the line's full write as ExportLineReader reads it (simdjson; export_line.h),
//   turned into the document's canonical text and hashed from that text as merged records are.
//   It declines every line ExportLineReader declines (anything unusual or invalid); the exact one
//   then reads it, and gives the reason when the line is rejected.
// A differential test (tests/iothub/plan_primary_test.cc) holds the two to the same records.
//
// Thread safety: a PrimaryLineReader is used by one thread at a time; ReadPrimaryLineExact is pure.
#ifndef RECONCILE_LIB_IOTHUB_PLAN_PRIMARY_H_
#define RECONCILE_LIB_IOTHUB_PLAN_PRIMARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "lib/iothub/plan_text.h"

namespace reconcile::iothub {

struct PrimaryRecord {
  std::optional<Key> key;
  Hash128 identity;  // with authentication; identity_no_auth when the record has none
  Hash128 identity_no_auth;
  Hash128 twin;
  Hash128 reported;
  bool edge = false;                     // an IoT Edge device
  std::string parent;                    // edge devices: the first parent scope's device, or ""
  std::optional<std::string> own_scope;  // devices: a deviceScope that names the device itself
  friend bool operator==(const PrimaryRecord&, const PrimaryRecord&) = default;
};

// The exact reading of `line`; the reason when the line is rejected. `no_keys`: the identity hash
// leaves out authentication.symmetricKey (PlanOptions::no_keys).
std::optional<Invalid> ReadPrimaryLineExact(std::string_view line, bool no_keys,
                                            PrimaryRecord* out);

// The canonical text of the document that a full write (every cell at one stamp, in path order:
// ExportLineReader's or FullWriteDelta's) writes; false when `delta` is not such a write.
bool FullWriteText(const RecordState& delta, std::string* out);

class PrimaryLineReader {
 public:
  explicit PrimaryLineReader(bool no_keys);
  PrimaryLineReader(const PrimaryLineReader&) = delete;
  PrimaryLineReader& operator=(const PrimaryLineReader&) = delete;

  // The fast reading when it reads the line, else the exact one.
  std::optional<Invalid> Read(std::string_view line, PrimaryRecord* out);
  // The fast reading alone: false (and *out unspecified) when it declines the line.
  bool ReadFast(std::string_view line, PrimaryRecord* out);
  // Lines the fast reading declined so far.
  uint64_t declined() const { return declined_; }

 private:
  bool no_keys_;
  ExportLineReader lines_;
  RecordState delta_;
  DocText text_;
  uint64_t declined_ = 0;
};

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_PLAN_PRIMARY_H_
