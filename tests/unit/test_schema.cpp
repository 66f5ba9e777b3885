// Schema validation: types are strict, ranges and enums checked, defaults filled, every
// message carries file:line:column and a close-match suggestion where one exists.
#include <doctest/doctest.h>

#include "config/descriptor.hpp"
#include "config/validate.hpp"
#include "helpers.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

Schema schema() {
  namespace p = ebm::param;
  return {p::real("eps", "radius").set_default(0.1).range(0, 1),
          p::integer("steps", "steps").set_default(10).at_least(0),
          p::boolean("random_start", "flag").set_default(false),
          p::enumeration("norm", {"linf", "l2"}, "norm").set_default("linf"),
          p::list("sizes", p::integer("size", "size").range(1, 8), "sizes").set_default(List{}),
          p::table("inner", {p::real("rate", "rate").set_default(0.5), p::string("tag", "tag").require()}, "nested"),
          p::reference("attack", "sampler", "which sampler"),
          p::string("label", "required").require()};
}

References refs_with(std::vector<std::string> samplers) {
  References r;
  r.exists = [samplers](const std::string&, const std::string& n) {
    return std::find(samplers.begin(), samplers.end(), n) != samplers.end();
  };
  r.available = [samplers](const std::string&) { return samplers; };
  return r;
}

std::vector<std::string> problems(const std::string& toml, std::vector<std::string> samplers = {"attack"}) {
  Value v = parse_toml_text(toml, "t.toml");
  Diagnostics d;
  validate_table(*v.find("c"), schema(), "c", d, refs_with(samplers));
  return d.messages();
}

}  // namespace

TEST_CASE("schema: a valid table gets its defaults and exact types") {
  Value v = parse_toml_text("[c]\nlabel = \"x\"\neps = 1\ninner = { tag = \"t\" }\n", "t.toml");
  Diagnostics d;
  Table t = validate_table(*v.find("c"), schema(), "c", d, refs_with({}));
  CHECK(d.empty());
  CHECK(t.at("eps").type() == Value::Type::real);  // an integer is accepted where a real is declared
  CHECK(t.at("eps").as_real() == 1.0);
  CHECK(t.at("steps").as_int() == 10);
  CHECK(t.at("norm").as_string() == "linf");
  CHECK(t.at("inner").as_table().at("rate").as_real() == 0.5);
  CHECK(t.count("attack") == 0);  // optional without default: absent
}

TEST_CASE("schema: an integer is not a boolean, a real is not an integer") {
  auto m = problems("[c]\nlabel = \"x\"\ninner = { tag = \"t\" }\nrandom_start = 1\nsteps = 2.5\n");
  REQUIRE(m.size() == 2);
  CHECK(m[0] == "t.toml:5:9: 'c.steps': expected integer >= 0, found real 2.5");
  CHECK(m[1] == "t.toml:4:16: 'c.random_start': expected boolean, found integer 1");
}

TEST_CASE("schema: out of range values name the range") {
  auto m = problems("[c]\nlabel = \"x\"\ninner = { tag = \"t\" }\neps = 1.5\nsizes = [1, 9]\n");
  REQUIRE(m.size() == 2);
  CHECK(m[0] == "t.toml:4:7: 'c.eps' = 1.5 is out of range: expected real in [0, 1]");
  CHECK(m[1].find("t.toml:5:13: 'c.sizes.1' = 9 is out of range") == 0);
}

TEST_CASE("schema: exclusive bounds refuse the bound itself and print it as ( or >") {
  namespace p = ebm::param;
  const Schema exclusive = {p::real("step_size", "step").set_default(0.1).greater_than(0),
                            p::real("rate", "rate").set_default(0.5).greater_than(0).range(0, 1).less_than(1),
                            p::real("tol", "tol").set_default(0.001).greater_than(1e-8)};
  CHECK(exclusive[0].describe_type() == "real > 0");
  CHECK(exclusive[1].describe_type() == "real in [0, 1)");  // range() resets the lower bound's kind
  CHECK(exclusive[2].describe_type() == "real > 1e-08");
  auto check = [&](const std::string& toml) {
    Value v = parse_toml_text("[c]\n" + toml, "t.toml");
    Diagnostics d;
    validate_table(*v.find("c"), exclusive, "c", d, refs_with({}));
    return d.messages();
  };
  auto m = check("step_size = 0.0\nrate = 1.0\ntol = 1e-8\n");
  REQUIRE(m.size() == 3);
  CHECK(m[0] == "t.toml:2:13: 'c.step_size' = 0.0 is out of range: expected real > 0");
  CHECK(m[1] == "t.toml:3:8: 'c.rate' = 1.0 is out of range: expected real in [0, 1)");
  CHECK(m[2] == "t.toml:4:7: 'c.tol' = 1e-08 is out of range: expected real > 1e-08");  // one way to print numbers
  CHECK(check("step_size = 1e-12\nrate = 0.0\ntol = 2e-8\n").empty());
}

TEST_CASE("number_text: whole numbers in full, others in the shortest form that reads back") {
  CHECK(number_text(1e9) == "1000000000");
  CHECK(number_text(0.01) == "0.01");
  CHECK(number_text(1e-8) == "1e-08");
  CHECK(number_text(0.1 + 0.2) == "0.30000000000000004");
  CHECK(number_text(-2.5) == "-2.5");
  CHECK(Value(0.01).to_string() == "0.01");
  CHECK(Value(3.0).to_string() == "3.0");
}

TEST_CASE("schema: unknown keys and enum values get a close match") {
  auto m = problems("[c]\nlabel = \"x\"\ninner = { tag = \"t\" }\nstep = 3\nnorm = \"l3\"\n");
  REQUIRE(m.size() == 2);
  CHECK(m[0].find("t.toml:4:8: unknown key 'c.step'; did you mean 'steps'?") == 0);
  CHECK(m[1] == "t.toml:5:8: 'c.norm' = \"l3\": expected one of linf|l2; did you mean 'l2'?");
}

TEST_CASE("schema: missing required keys, also in nested tables") {
  auto m = problems("[c]\ninner = { rate = 0.2 }\n");
  REQUIRE(m.size() == 2);
  CHECK(m[0].find("t.toml:2:9: missing required key 'c.inner.tag'") == 0);
  CHECK(m[1].find("t.toml:1:1: missing required key 'c.label'") == 0);
}

TEST_CASE("schema: dangling references list what exists") {
  auto m = problems("[c]\nlabel = \"x\"\ninner = { tag = \"t\" }\nattack = \"atack\"\n", {"attack", "contrastive"});
  REQUIRE(m.size() == 1);
  CHECK(m[0] ==
        "t.toml:4:10: 'c.attack' refers to sampler 'atack', which is not defined: expected one of [samplers.attack], "
        "[samplers.contrastive]; did you mean 'attack'?");
}

TEST_CASE("schema: Params accessors read checked values") {
  Params p(Table{{"a", Value(2.5)}, {"n", Value(3)}, {"l", Value(List{Value(1), Value(2)})}}, "owner");
  CHECK(p.real("a") == 2.5);
  CHECK(p.integer("n") == 3);
  CHECK(p.integers("l") == std::vector<std::int64_t>{1, 2});
  CHECK_FALSE(p.has("missing"));
  auto msg = test::error_of<SchemaError>([&] { p.real("missing"); });
  CHECK(msg.find("owner: parameter 'missing'") == 0);
}
