// gocv's NewWindow creates windows with the default flags, which give Qt a
// toolbar and a status bar; lsview wants the picture and nothing else.
#include <opencv2/highgui.hpp>
#include "window_cv.h"

extern "C" void lsview_named_window(const char *name) {
    cv::namedWindow(name, cv::WINDOW_NORMAL | cv::WINDOW_KEEPRATIO | cv::WINDOW_GUI_NORMAL);
}
