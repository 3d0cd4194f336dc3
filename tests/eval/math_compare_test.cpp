// Unit tests for the pieces under the math graders: expression evaluation, normalization,
// numeric parsing (incl. Chinese numerals), and the run statistics.
#include "eval/answer_extract.h"
#include "eval/math_compare.h"
#include "eval/math_expr.h"
#include "eval/summary.h"

#include <gtest/gtest.h>

#include <cmath>

namespace retort::eval {
namespace {

void expect_value(const char* text, double expected) {
    const auto v = evaluate_constant(text);
    ASSERT_TRUE(v.has_value()) << text;
    EXPECT_NEAR(*v, expected, 1e-9 * std::max(1.0, std::fabs(expected))) << text;
}

TEST(MathExpr, EvaluatesLatex) {
    expect_value("\\frac{3\\sqrt{3}}{4}", 3 * std::sqrt(3.0) / 4);
    expect_value("\\frac12", 0.5);
    expect_value("\\frac{270}7", 270.0 / 7);
    expect_value("1\\frac{4}{5}", 1.8);
    expect_value("137 \\frac{1}{2}", 137.5);
    expect_value("2\\sqrt{3}", 2 * std::sqrt(3.0));
    expect_value("\\sqrt[3]{27}", 3);
    expect_value("-\\frac{\\pi}{6}", -M_PI / 6);
    expect_value("2^{10}", 1024);
    expect_value("-2^2", -4);
    expect_value("3 \\times 6", 18);
    expect_value("3 \\cdot (2+4)", 18);
    expect_value("\\left( 1 + 2 \\right) \\div 3", 1);
    expect_value("5!", 120);
    expect_value(".5", 0.5);
    EXPECT_FALSE(evaluate_constant("x + 1").has_value());
    EXPECT_FALSE(evaluate_constant("(1, 2)").has_value());
    EXPECT_FALSE(evaluate_constant("\\infty").has_value());
    EXPECT_FALSE(evaluate_constant("").has_value());
    EXPECT_FALSE(evaluate_constant(std::string(5000, '(')).has_value());  // too long
    EXPECT_FALSE(evaluate_constant(std::string(200, '(') + "1" + std::string(200, ')')).has_value());  // too deep
}

TEST(MathExpr, ComparesSymbolically) {
    EXPECT_TRUE(expressions_equal("(a+5)(b+2)", "ab+2a+5b+10"));
    EXPECT_TRUE(expressions_equal("2k+2", "2(k+1)"));
    EXPECT_TRUE(expressions_equal("x^2-1", "(x-1)(x+1)"));
    EXPECT_FALSE(expressions_equal("x^2+1", "(x+1)^2"));
    EXPECT_FALSE(expressions_equal("east", "seat"));  // words are not products
    EXPECT_TRUE(expressions_equal("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"));
    EXPECT_FALSE(expressions_equal("0.333", "\\frac{1}{3}"));
}

TEST(MathCompare, Normalizes) {
    EXPECT_EQ(normalize_math_answer("\\left( 3, \\frac{\\pi}{2} \\right)"), "(3,\\frac{\\pi}{2})");
    EXPECT_EQ(normalize_math_answer("\\dfrac{14}{3}"), "\\frac{14}{3}");
    EXPECT_EQ(normalize_math_answer("\\frac 59"), "\\frac{5}{9}");
    EXPECT_EQ(normalize_math_answer("120^\\circ"), "120");
    EXPECT_EQ(normalize_math_answer("5.4 \\text{ cents}"), "5.4");
    EXPECT_EQ(normalize_math_answer("\\text{(C)}"), "C");
    EXPECT_EQ(normalize_math_answer("x = 5"), "5");
    EXPECT_EQ(normalize_math_answer("4210_{5}"), "4210_5");
    EXPECT_EQ(normalize_math_answer("11,\\! 111,\\! 111,\\! 100"), "11111111100");
    EXPECT_EQ(normalize_math_answer(".35625"), "0.35625");
    EXPECT_EQ(normalize_math_answer("3/4"), "\\frac{3}{4}");
    EXPECT_EQ(normalize_math_answer("15\\mbox{ cm}^2"), "15");
    EXPECT_EQ(normalize_math_answer("\\$36"), "36");
    EXPECT_EQ(normalize_math_answer("10\\%"), "10");
}

TEST(MathCompare, ParsesNumbers) {
    auto v = [](const char* s) {
        const auto n = parse_numeric_answer(s);
        return n ? n->value : NAN;
    };
    EXPECT_DOUBLE_EQ(v("$1,234"), 1234);
    EXPECT_DOUBLE_EQ(v("18 dollars"), 18);
    EXPECT_DOUBLE_EQ(v("\\$18.90"), 18.9);
    EXPECT_DOUBLE_EQ(v("x = 3.5"), 3.5);
    EXPECT_DOUBLE_EQ(v("5元"), 5);
    EXPECT_DOUBLE_EQ(v("15 cm^2"), 15);
    EXPECT_DOUBLE_EQ(v("五分之三"), 0.6);
    EXPECT_DOUBLE_EQ(v("百分之二十五"), 0.25);
    EXPECT_DOUBLE_EQ(v("3又4分之1"), 3.25);
    EXPECT_DOUBLE_EQ(v("−7"), -7);
    EXPECT_DOUBLE_EQ(v("１２"), 12);
    EXPECT_TRUE(parse_numeric_answer("12%")->percent);
    EXPECT_TRUE(std::isnan(v("no number here")));
    EXPECT_EQ(parse_chinese_integer("二十五"), 25);
    EXPECT_EQ(parse_chinese_integer("十五"), 15);
    EXPECT_EQ(parse_chinese_integer("一百零三"), 103);
    EXPECT_EQ(parse_chinese_integer("两千零三"), 2003);
    EXPECT_EQ(parse_chinese_integer("三万五千"), 35000);
    EXPECT_FALSE(parse_chinese_integer("苹果").has_value());
}

TEST(MathCompare, DatasetRules) {
    EXPECT_TRUE(gsm8k_equal("18.0", "18"));
    EXPECT_FALSE(gsm8k_equal("18.5", "18"));
    EXPECT_EQ(gsm8k_reference("so 2 + 3 = 5\n#### 2,125"), "2125");
    EXPECT_TRUE(cmath_equal("2.86", "2.86"));
    EXPECT_TRUE(cmath_equal("2.87", "2.86"));   // within 1%
    EXPECT_FALSE(cmath_equal("2.95", "2.86"));  // 3% off
    EXPECT_FALSE(cmath_equal("99", "100"));     // integers must be equal
    EXPECT_TRUE(aime_equal("025", "25"));
    EXPECT_FALSE(aime_equal("25.5", "25"));
    EXPECT_FALSE(aime_equal("25%", "25"));
    EXPECT_TRUE(math500_equal("[-2, 7]", "x \\in [-2,7]"));
    EXPECT_FALSE(math500_equal("(-2, 7)", "[-2,7]"));
    EXPECT_TRUE(math500_equal("\\{-2, 1+\\sqrt{5}\\}", "\\{1+\\sqrt{5},-2\\}"));
    EXPECT_FALSE(math500_equal("", "0"));
    EXPECT_TRUE(math500_equal("\\frac{1}{2}", "0.5"));
}

TEST(AnswerExtract, SplitsReasoning) {
    auto p = split_output("<think>\nabc\n</think>\n\nanswer");
    EXPECT_EQ(p.reasoning, "\nabc\n");
    EXPECT_EQ(p.answer, "\n\nanswer");
    EXPECT_FALSE(p.truncated);
    p = split_output("no tags");
    EXPECT_EQ(p.answer, "no tags");
    p = split_output("<think>\ncut off");
    EXPECT_TRUE(p.truncated);
    EXPECT_EQ(p.answer, "");
    EXPECT_EQ(last_boxed("\\boxed{\\frac{a}{\\sqrt{b}}} and \\boxed{x^{2}}").value(), "x^{2}");
    EXPECT_EQ(last_boxed("\\boxed{\\{1,2\\}}").value(), "\\{1,2\\}");
    EXPECT_FALSE(last_boxed("\\boxed{unclosed").has_value());
    EXPECT_EQ(last_number("from 3-2 we get -5 and 1,234.5 then 7/8").value(), "7/8");
    EXPECT_EQ(last_number("total 2,125.").value(), "2,125");
    EXPECT_EQ(last_number("x2 y").value_or(""), "");
}

TEST(Statistics, WilsonInterval) {
    const auto [lo, hi] = wilson_interval(81, 100);
    EXPECT_NEAR(lo, 0.7222, 1e-3);
    EXPECT_NEAR(hi, 0.8749, 1e-3);
    const auto [lo0, hi0] = wilson_interval(0, 10);
    EXPECT_DOUBLE_EQ(lo0, 0.0);
    EXPECT_NEAR(hi0, 0.2775, 1e-3);
    EXPECT_EQ(wilson_interval(0, 0), std::make_pair(0.0, 0.0));
}

TEST(Statistics, PassAtK) {
    EXPECT_DOUBLE_EQ(pass_at_k(10, 0, 1), 0.0);
    EXPECT_DOUBLE_EQ(pass_at_k(10, 10, 5), 1.0);
    EXPECT_NEAR(pass_at_k(10, 3, 1), 0.3, 1e-12);
    // 1 - C(7,2)/C(10,2) = 1 - 21/45
    EXPECT_NEAR(pass_at_k(10, 3, 2), 1.0 - 21.0 / 45.0, 1e-12);
    EXPECT_DOUBLE_EQ(pass_at_k(5, 4, 2), 1.0);  // n - c < k
}

TEST(Summary, RoundTripsThroughJson) {
    RunSummary s;
    s.suite = "gsm8k";
    s.kind = "math";
    s.source = "eval";
    s.n = s.n_samples = 10;
    s.correct = 7;
    s.accuracy = 0.7;
    s.pass_at_k[1] = 0.7;
    s.model = ModelInfo{"R1-Distill-Qwen-1.5B", "m.gguf", "1.5B", "Q4_K_M", 1'100'000'000};
    s.perf.ms_per_token = 12.5;
    const auto back = summary_from_json(to_json(s), "mem");
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->model->quant, "Q4_K_M");
    EXPECT_EQ(back->perf.ms_per_token, 12.5);
    EXPECT_FALSE(back->perf.tokens_per_s.has_value());
    EXPECT_EQ(back->pass_at_k.at(1), 0.7);
    nlohmann::json bad = to_json(s);
    bad["accuracy"] = "high";
    EXPECT_FALSE(summary_from_json(bad, "mem").ok());
    bad = to_json(s);
    bad["schema"] = "other";
    EXPECT_FALSE(summary_from_json(bad, "mem").ok());
    bad = to_json(s);
    bad["perf"]["ms_per_token"] = "fast";
    const auto r = summary_from_json(bad, "mem");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("perf.ms_per_token"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace retort::eval
