// Reading ids out of export lines without parsing them (lib/failback/files.h): FindText against
// std::string_view::find as its model, and PeekIds on plain and odd lines.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

#include "lib/failback/files.h"

namespace {

using reconcile::failback::FindText;
using reconcile::failback::PeekIds;

// Text over a few letters, quotes and colons, so that needles occur, overlap and nearly occur.
rc::Gen<std::string> JsonishText() {
  return rc::gen::container<std::string>(rc::gen::elementOf(std::string("\"id:{}a")));
}

RC_GTEST_PROP(FindText, FindsWhatFindFinds, ()) {
  const std::string text = *JsonishText();
  const std::string needle = *rc::gen::resize(6, JsonishText());
  const size_t from = *rc::gen::inRange<size_t>(0, text.size() + 2);
  RC_ASSERT(FindText(text, needle, from) == std::string_view(text).find(needle, from));
}

TEST(PeekIds, ReadsPlainIdsAndDeclinesOddLines) {
  std::string device, module;
  ASSERT_TRUE(PeekIds(R"({"id":"dev-1","eTag":"x","status":"enabled"})", &device, &module));
  EXPECT_EQ(device, "dev-1");
  EXPECT_EQ(module, "");
  ASSERT_TRUE(PeekIds(R"({"moduleId":"agent","id":"dev-2","tags":{}})", &device, &module));
  EXPECT_EQ(device, "dev-2");
  EXPECT_EQ(module, "agent");
  // "id" twice (here a tag of that name): which one is the line's is not known without parsing.
  EXPECT_FALSE(PeekIds(R"({"id":"dev-3","tags":{"id":"x"}})", &device, &module));
  // An escape in the value, no id, an id that is not a string.
  EXPECT_FALSE(PeekIds(R"({"id":"dev\u002d4"})", &device, &module));
  EXPECT_FALSE(PeekIds(R"({"eTag":"x"})", &device, &module));
  EXPECT_FALSE(PeekIds(R"({"id":4})", &device, &module));
}

}  // namespace
