//go:build linux && !noqt

// imshow on OpenCV's Qt backend costs a frame three full-window passes:
// a BGR to RGB copy of the whole canvas (cvtColor), Qt's RGB888 to RGB32
// conversion of it while painting, and a repaint of the whole window,
// even when only the picture changed. lsview knows what changed: it
// paints highgui's own viewport from its canvas itself, only the changed
// area, straight from the canvas's bytes: the canvas is BGRA, which is
// Qt's own RGB32 on a little-endian machine, so painting is a copy.
#include <QtGui/QImage>
#include <QtGui/QPainter>
#include <QtGui/QPaintEvent>
#include <QtWidgets/QAbstractScrollArea>
#include <QtWidgets/QApplication>
#include <QtWidgets/QWidget>
#include <QtCore/QPointer>
#include "present_qt.h"

namespace {

class painter : public QObject {
public:
    QPointer<QWidget> viewport;
    QImage canvas; // wraps lsview's canvas, which outlives it (see detach)

    bool eventFilter(QObject *obj, QEvent *e) override {
        if (obj != viewport || e->type() != QEvent::Paint || canvas.isNull())
            return false;
        QPainter p(viewport);
        const QRegion todo = static_cast<QPaintEvent *>(e)->region();
        for (const QRect &r : todo) {
            const QRect in = r & canvas.rect();
            if (!in.isEmpty())
                p.drawImage(in.topLeft(), canvas, in);
        }
        // Around the canvas, while the window grows and before the next
        // layout: black, as the letterbox.
        const QRegion outside = todo.subtracted(QRegion(canvas.rect()));
        for (const QRect &r : outside)
            p.fillRect(r, Qt::black);
        return true; // highgui would paint its stale copy over ours
    }
};

painter *filter; // the QApplication's child

// find is the scroll area's viewport of the highgui window called name
// (highgui names its window widget after it).
QWidget *find(const char *name) {
    for (QWidget *top : QApplication::topLevelWidgets()) {
        if (top->objectName() != QString::fromUtf8(name))
            continue;
        if (auto *area = top->findChild<QAbstractScrollArea *>())
            return area->viewport();
    }
    return nullptr;
}

} // namespace

// lsview_present shows the canvas (BGRA, width×height, stride bytes a row)
// in the window called name, repainting the rectangle x, y, w, h of it.
// 0 says it can't (no Qt application, or no such window): the caller
// uses imshow. Main thread only; the canvas must stay until the next call
// or lsview_present_detach.
extern "C" int lsview_present(const char *name, unsigned char *bgra, int width, int height, int stride, int x, int y,
                              int w, int h) {
    auto *app = qobject_cast<QApplication *>(QCoreApplication::instance());
    if (!app)
        return 0;
    if (!filter) {
        filter = new painter;
        filter->setParent(app);
    }
    if (!filter->viewport) {
        QWidget *vp = find(name);
        if (!vp)
            return 0;
        filter->viewport = vp;
        vp->installEventFilter(filter);
    }
    if (filter->canvas.constBits() != bgra || filter->canvas.width() != width || filter->canvas.height() != height) {
        filter->canvas = QImage(bgra, width, height, stride, QImage::Format_RGB32);
        filter->viewport->update();
    } else {
        filter->viewport->update(QRect(x, y, w, h));
    }
    return 1;
}

// lsview_present_detach forgets the canvas before lsview frees it.
extern "C" void lsview_present_detach(void) {
    if (filter)
        filter->canvas = QImage();
}
