// Static SVG charts for the report: a scatter plot and a horizontal stacked bar chart, drawn
// as plain elements (no script, no external resources) so the page works offline. Tooltips
// are SVG <title> children, which browsers show on hover without JavaScript.
#pragma once

#include <string>
#include <vector>

namespace retort::eval {

// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
const std::string& series_color(size_t index);

// Escapes & < > " ' for HTML/SVG text and attributes.
std::string xml_escape(const std::string& s);

struct ScatterPoint {
    double x = 0, y = 0;
    size_t series = 0;    // colour / legend entry
    std::string group;    // points of one group are joined by a thin line and labelled once
    std::string tooltip;
};

struct ScatterChart {
    std::string id;  // the <svg> element's id
    std::string title, x_label, y_label;
    bool log_x = false;              // log10 x axis (chosen by the caller for wide ranges)
    double y_min = 0, y_max = 100;   // fixed y range (accuracy in %)
    std::vector<std::string> series;
    std::vector<ScatterPoint> points;
    std::string empty_note;  // shown in the plot area when there are no points
};
std::string render_scatter(const ScatterChart& chart);

struct BarRow {
    std::string group;            // rows of one group follow each other under its heading
    std::string label;            // row label (left)
    size_t series = 0;            // colour of the first segment
    std::vector<double> segments; // stacked left to right; the second is drawn lighter
    std::string tooltip;
};

struct BarChart {
    std::string id, title, x_label;
    std::vector<std::string> series;          // legend (colours by series index)
    std::vector<std::string> segment_names;   // legend for segments ("reasoning", "answer")
    std::vector<BarRow> rows;
    std::string empty_note;
};
std::string render_bars(const BarChart& chart);

}  // namespace retort::eval
