// SVG chart rendering (see svg_chart.h). Coordinates: the plot area is [left, left+plot_w] x
// [top, top+plot_h]; data maps linearly (or log10 for x) into it, y growing upward.
#include "eval/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace retort::eval {

namespace {

constexpr double kWidth = 640, kLeft = 56, kRight = 120, kTop = 44, kBottom = 56;
constexpr double kCharWidth = 6.6;  // rough width of a 12px character, for label layout

// 1, 2 or 5 times a power of ten, near range / target.
double nice_step(double range, int target) {
    const double raw = range / std::max(target, 1);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

std::string fmt_tick(double v) {
    if (v == 0) return "0";
    const double a = std::fabs(v);
    if (a >= 100 || std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{:.0f}", v);
    if (a >= 1) return fmt::format("{:.1f}", v);
    return fmt::format("{:.2g}", v);
}

std::string svg_open(const std::string& id, double height, const std::string& title) {
    return fmt::format(
        "<svg id=\"{}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" "
        "height=\"{}\" role=\"img\" aria-label=\"{}\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\n"
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n"
        "<text x=\"{}\" y=\"24\" font-size=\"15\" font-weight=\"600\" fill=\"#222\">{}</text>\n",
        xml_escape(id), kWidth, height, kWidth, height, xml_escape(title), kWidth, height, kLeft, xml_escape(title));
}

std::string legend(const std::vector<std::string>& names, double x, double y) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        const double yy = y + 20.0 * static_cast<double>(i);
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"/>", x + 6, yy - 4, series_color(i));
        out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#222\">{}</text>\n", x + 16, yy, xml_escape(names[i]));
    }
    return out;
}

}  // namespace

const std::string& series_color(size_t index) {
    static const std::string kColors[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                          "#56B4E9", "#D55E00", "#000000", "#F0E442"};
    return kColors[index % std::size(kColors)];
}

std::string xml_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string render_scatter(const ScatterChart& c) {
    const double height = 400, plot_w = kWidth - kLeft - kRight, plot_h = height - kTop - kBottom;
    std::string out = svg_open(c.id, height, c.title);

    // X range from the data, padded; log axes keep whole decades.
    double x_lo = 0, x_hi = 1;
    bool any = false;
    for (const auto& p : c.points) {
        if (!std::isfinite(p.x) || (c.log_x && p.x <= 0)) continue;
        x_lo = any ? std::min(x_lo, p.x) : p.x;
        x_hi = any ? std::max(x_hi, p.x) : p.x;
        any = true;
    }
    std::vector<double> ticks;
    if (c.log_x && any) {
        x_lo = std::pow(10.0, std::floor(std::log10(x_lo)));
        x_hi = std::pow(10.0, std::ceil(std::log10(x_hi * 1.0001)));
        if (x_hi <= x_lo) x_hi = x_lo * 10;
        for (double d = x_lo; d <= x_hi * 1.0001; d *= 10)
            for (double m : {1.0, 2.0, 5.0})
                if (d * m <= x_hi * 1.0001) ticks.push_back(d * m);
    } else {
        if (!any) {
            x_lo = 0;
            x_hi = 1;
        }
        const double pad = std::max((x_hi - x_lo) * 0.1, std::max(std::fabs(x_hi) * 0.1, 1e-9));
        x_lo = std::max(0.0, x_lo - pad);
        x_hi += pad;
        const double step = nice_step(x_hi - x_lo, 6);
        x_lo = std::floor(x_lo / step) * step;
        x_hi = std::ceil(x_hi / step) * step;
        for (double t = x_lo; t <= x_hi + step * 1e-6; t += step) ticks.push_back(t);
    }
    auto sx = [&](double x) {
        const double f = c.log_x ? (std::log10(x) - std::log10(x_lo)) / (std::log10(x_hi) - std::log10(x_lo))
                                 : (x - x_lo) / (x_hi - x_lo);
        return kLeft + f * plot_w;
    };
    auto sy = [&](double y) { return kTop + plot_h - (y - c.y_min) / (c.y_max - c.y_min) * plot_h; };

    // Grid and axes.
    out += "<g class=\"grid\" stroke=\"#e3e3e3\">\n";
    const double y_step = nice_step(c.y_max - c.y_min, 5);
    for (double t = c.y_min; t <= c.y_max + 1e-9; t += y_step)
        out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>", kLeft, sy(t), kLeft + plot_w, sy(t));
    for (double t : ticks)
        out += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\"/>", sx(t), kTop, sx(t), kTop + plot_h);
    out += "</g>\n<g class=\"axes\" fill=\"#444\">\n";
    for (double t = c.y_min; t <= c.y_max + 1e-9; t += y_step)
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", kLeft - 6, sy(t) + 4, fmt_tick(t));
    for (double t : ticks)
        out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", sx(t), kTop + plot_h + 16,
                           fmt_tick(t));
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>", kLeft, kTop + plot_h,
                       kLeft + plot_w, kTop + plot_h);
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>\n", kLeft, kTop, kLeft,
                       kTop + plot_h);
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + plot_w / 2, height - 14,
                       xml_escape(c.x_label));
    out += fmt::format("<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n</g>\n",
                       kTop + plot_h / 2, xml_escape(c.y_label));

    if (!any) {
        out += fmt::format("<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">{}</text>\n",
                           kLeft + plot_w / 2, kTop + plot_h / 2, xml_escape(c.empty_note));
    } else {
        // Each group: a thin line over its points' y range, and its name once, by the top point.
        std::map<std::string, std::vector<const ScatterPoint*>> groups;
        for (const auto& p : c.points)
            if (std::isfinite(p.x) && (!c.log_x || p.x > 0)) groups[p.group].push_back(&p);
        out += "<g class=\"points\">\n";
        struct Label {
            double x, y;
            bool left;  // text ends at x (right half of the plot) instead of starting there
            std::string text;
        };
        std::vector<Label> labels;
        for (const auto& [name, pts] : groups) {
            const auto [lo, hi] = std::minmax_element(pts.begin(), pts.end(),
                                                      [](auto* a, auto* b) { return a->y < b->y; });
            if (pts.size() > 1)
                out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#bbb\" "
                                   "stroke-width=\"2\"/>",
                                   sx((*lo)->x), sy((*lo)->y), sx((*hi)->x), sy((*hi)->y));
            for (const ScatterPoint* p : pts)
                out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"6\" fill=\"{}\" stroke=\"#fff\" "
                                   "stroke-width=\"1.5\"><title>{}</title></circle>\n",
                                   sx(p->x), sy(p->y), series_color(p->series), xml_escape(p->tooltip));
            const double px = sx((*hi)->x);
            const bool left = px > kLeft + plot_w * 0.55;
            labels.push_back({left ? px - 9 : px + 9, sy((*hi)->y) - 9, left, name});
        }
        // Push overlapping labels apart vertically, top to bottom.
        std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.y < b.y; });
        auto span = [](const Label& l) {
            const double w = kCharWidth * static_cast<double>(l.text.size());
            return l.left ? std::pair{l.x - w, l.x} : std::pair{l.x, l.x + w};
        };
        for (size_t i = 0; i < labels.size(); ++i) {
            labels[i].y = std::max(labels[i].y, kTop + 12);
            for (size_t j = 0; j < i; ++j) {
                const auto [a0, a1] = span(labels[i]);
                const auto [b0, b1] = span(labels[j]);
                if (a0 < b1 && b0 < a1 && std::fabs(labels[i].y - labels[j].y) < 14) labels[i].y = labels[j].y + 14;
            }
        }
        for (const Label& l : labels)
            out += fmt::format("<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#222\" text-anchor=\"{}\" "
                               "paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">{}</text>\n",
                               l.x, l.y, l.left ? "end" : "start", xml_escape(l.text));
        out += "</g>\n";
    }
    out += legend(c.series, kLeft + plot_w + 16, kTop + 10);
    out += "</svg>\n";
    return out;
}

std::string render_bars(const BarChart& c) {
    // Layout: a heading line per group, then one bar per row, labelled by row.
    const double row_h = 20, head_h = 22, label_w = 110;
    std::vector<double> row_y(c.rows.size());
    std::vector<std::pair<double, std::string>> headings;
    double y = kTop;
    for (size_t i = 0; i < c.rows.size(); ++i) {
        if (i == 0 || c.rows[i].group != c.rows[i - 1].group) {
            headings.emplace_back(y + 15, c.rows[i].group);
            y += head_h;
        }
        row_y[i] = y;
        y += row_h;
    }
    const double plot_h = std::max(row_h, y - kTop);
    const double height = kTop + plot_h + kBottom;
    const double left = label_w, plot_w = kWidth - left - kRight;
    std::string out = svg_open(c.id, height, c.title);
    double hi = 0;
    for (const auto& r : c.rows) {
        double sum = 0;
        for (double v : r.segments) sum += std::max(0.0, v);
        hi = std::max(hi, sum);
    }
    if (hi <= 0) hi = 1;
    const double step = nice_step(hi, 5);
    hi = std::ceil(hi / step) * step;
    auto sx = [&](double v) { return left + v / hi * plot_w; };
    out += "<g class=\"grid\" stroke=\"#e3e3e3\">";
    for (double t = 0; t <= hi + 1e-9; t += step)
        out += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\"/>", sx(t), kTop, sx(t), kTop + plot_h);
    out += "</g>\n<g class=\"axes\" fill=\"#444\">";
    for (double t = 0; t <= hi + 1e-9; t += step)
        out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", sx(t), kTop + plot_h + 16,
                           fmt_tick(t));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>\n", left + plot_w / 2,
                       kTop + plot_h + 38, xml_escape(c.x_label));
    if (c.rows.empty()) {
        out += fmt::format("<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">{}</text>\n",
                           left + plot_w / 2, kTop + plot_h / 2 + 4, xml_escape(c.empty_note));
    }
    out += "<g class=\"bars\">\n";
    for (const auto& [hy, text] : headings)
        out += fmt::format("<text class=\"group\" x=\"8\" y=\"{:.1f}\" font-weight=\"600\" fill=\"#222\">{}</text>\n",
                           hy, xml_escape(text));
    for (size_t i = 0; i < c.rows.size(); ++i) {
        const BarRow& r = c.rows[i];
        const double ry = row_y[i];
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#444\">{}</text>", left - 8,
                           ry + row_h / 2 + 4, xml_escape(r.label));
        double x0 = 0;
        for (size_t s = 0; s < r.segments.size(); ++s) {
            const double v = std::max(0.0, r.segments[s]);
            out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
                               "fill-opacity=\"{}\"><title>{}</title></rect>",
                               sx(x0), ry + 3, sx(x0 + v) - sx(x0), row_h - 6, series_color(r.series),
                               s == 0 ? "1" : "0.4", xml_escape(r.tooltip));
            x0 += v;
        }
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#444\" font-size=\"11\">{:.0f}</text>\n",
                           sx(x0) + 4, ry + row_h / 2 + 4, x0);
    }
    out += "</g>\n";
    out += legend(c.series, left + plot_w + 16, kTop + 10);
    const double seg_y = kTop + 10 + 20.0 * static_cast<double>(c.series.size()) + 10;
    for (size_t s = 0; s < c.segment_names.size(); ++s)
        out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"#666\" fill-opacity=\"{}\"/>"
                           "<text x=\"{}\" y=\"{}\" fill=\"#222\">{}</text>\n",
                           left + plot_w + 16, seg_y + 20.0 * static_cast<double>(s) - 9, s == 0 ? "1" : "0.4",
                           left + plot_w + 32, seg_y + 20.0 * static_cast<double>(s), xml_escape(c.segment_names[s]));
    out += "</svg>\n";
    return out;
}

}  // namespace retort::eval
