// gocv's NewWindow creates windows with the default flags, which give Qt a
// toolbar and a status bar; lsview wants the picture and nothing else.
// gocv v0.31.0 has no getWindowImageRect either: lsview lays its canvas
// out at the window's real size, so it asks for it here.
#include <opencv2/highgui.hpp>
#include "window_cv.h"

// FREERATIO: the canvas is drawn at the window's own size, one canvas
// pixel to one screen pixel, never letterboxed by highgui (lsview keeps
// the picture's aspect itself).
extern "C" void lsview_named_window(const char *name) {
    cv::namedWindow(name, cv::WINDOW_NORMAL | cv::WINDOW_FREERATIO | cv::WINDOW_GUI_NORMAL);
}

// lsview_window_size reports the size of the window's image area, or -1
// when the backend can't tell.
extern "C" void lsview_window_size(const char *name, int *width, int *height) {
    *width = -1;
    *height = -1;
    try {
        cv::Rect r = cv::getWindowImageRect(name);
        *width = r.width;
        *height = r.height;
    } catch (const cv::Exception &) {
        // A backend without the call: the window keeps the size asked for.
    }
}
