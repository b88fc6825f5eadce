//go:build linux && !noqt

// OpenCV's Qt backend turns a key press into one lowercased Latin-1 byte
// for waitKey and drops the rest. This filter sits in front of it on the
// QApplication that highgui created and keeps what Qt knows: the key's
// text, input-method commits (CJK, compose, dead keys), the clipboard on
// Ctrl+V and the X selection on a middle click.
#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QTimer>
#include <QtWidgets/QApplication>
#include <QtWidgets/QWidget>
#include <QtGui/QClipboard>
#include <QtGui/QInputMethod>
#include <QtGui/QInputMethodEvent>
#include <QtGui/QKeyEvent>
#include <QtGui/QMouseEvent>
#include <QtGui/QWheelEvent>
#include <atomic>
#include <deque>
#include <string>
#include "winkeys_qt.h"

namespace {

// Bounds: a beat drains the queue, so 256 events is far more than a
// person types in one; a paste beyond 64 KiB is not a chat line.
const size_t maxQueued = 256;
const int maxPasteChars = 64 * 1024;

struct keyEvent {
    int key;
    std::string text;
};

// named maps the keys lsview acts on; everything else is text or nothing.
int named(const QKeyEvent *k) {
    const Qt::KeyboardModifiers mods = k->modifiers();
    if (mods & Qt::ControlModifier) {
        switch (k->key()) {
        case Qt::Key_Q:
            return LSVIEW_KEY_QUIT;
        }
        return -1;
    }
    // Shift with Left or Right takes a bigger step in the settings panel.
    if (mods & Qt::ShiftModifier) {
        switch (k->key()) {
        case Qt::Key_Left:
            return LSVIEW_KEY_SHIFT_LEFT;
        case Qt::Key_Right:
            return LSVIEW_KEY_SHIFT_RIGHT;
        }
    }
    switch (k->key()) {
    case Qt::Key_Return:
    case Qt::Key_Enter:
        return LSVIEW_KEY_ENTER;
    case Qt::Key_Escape:
        return LSVIEW_KEY_ESC;
    case Qt::Key_Backspace:
        return LSVIEW_KEY_BACKSPACE;
    case Qt::Key_Delete:
        return LSVIEW_KEY_DELETE;
    case Qt::Key_Left:
        return LSVIEW_KEY_LEFT;
    case Qt::Key_Right:
        return LSVIEW_KEY_RIGHT;
    case Qt::Key_Home:
        return LSVIEW_KEY_HOME;
    case Qt::Key_End:
        return LSVIEW_KEY_END;
    case Qt::Key_Up:
        return LSVIEW_KEY_UP;
    case Qt::Key_Down:
        return LSVIEW_KEY_DOWN;
    case Qt::Key_PageUp:
        return LSVIEW_KEY_PAGE_UP;
    case Qt::Key_PageDown:
        return LSVIEW_KEY_PAGE_DOWN;
    case Qt::Key_F1:
        return LSVIEW_KEY_F1;
    case Qt::Key_F11:
        return LSVIEW_KEY_F11;
    case Qt::Key_F2:
        return LSVIEW_KEY_F2;
    case Qt::Key_F3:
        return LSVIEW_KEY_F3;
    case Qt::Key_F4:
        return LSVIEW_KEY_F4;
    }
    return -1;
}

// printable keeps control characters out of a chat line: Tab, Esc and the
// like arrive as text too. A pasted line break or tab becomes a space, so
// pasted lines don't run together.
QString printable(const QString &s) {
    QString out;
    out.reserve(s.size());
    for (QChar c : s) {
        if (c == QLatin1Char('\n') || c == QLatin1Char('\t'))
            out.append(QLatin1Char(' '));
        else if (c.category() != QChar::Other_Control)
            out.append(c);
    }
    return out;
}

// acceptInputMethod lets the input method (ibus, fcitx, Qt's compose)
// talk to w: Qt engages it only for a focus object that says it takes
// input-method events, and highgui's widgets don't.
void acceptInputMethod(QWidget *w) {
    if (w->testAttribute(Qt::WA_InputMethodEnabled))
        return;
    w->setAttribute(Qt::WA_InputMethodEnabled);
    QGuiApplication::inputMethod()->update(Qt::ImEnabled);
}

class keyFilter : public QObject {
public:
    std::deque<keyEvent> queue;
    std::string current; // the text lsview_keys_next handed out last

    bool eventFilter(QObject *obj, QEvent *e) override {
        switch (e->type()) {
        case QEvent::ShortcutOverride:
            // Accepted, a key reaches us as a KeyPress instead of
            // triggering one of highgui's shortcuts (Ctrl+S saves, Ctrl+P
            // opens a dialog).
            e->accept();
            return true;
        case QEvent::KeyPress:
            key(static_cast<QKeyEvent *>(e));
            // Consumed: highgui's waitKey would see a mangled copy.
            return true;
        case QEvent::InputMethod: {
            auto *im = static_cast<QInputMethodEvent *>(e);
            text(im->commitString());
            e->accept();
            return true;
        }
        case QEvent::MouseButtonPress: {
            auto *m = static_cast<QMouseEvent *>(e);
            QClipboard *cb = QGuiApplication::clipboard();
            if (m->button() == Qt::MiddleButton && cb->supportsSelection()) {
                text(cb->text(QClipboard::Selection).left(maxPasteChars));
                return true;
            }
            return false;
        }
        case QEvent::Wheel: {
            auto *w = static_cast<QWheelEvent *>(e);
            // One event per gesture step, whatever its size: lsview scrolls
            // by lines it chooses.
            const int dy = w->angleDelta().y();
            if (dy != 0)
                push(dy > 0 ? LSVIEW_KEY_WHEEL_UP : LSVIEW_KEY_WHEEL_DOWN, std::string());
            return true; // highgui zooms on the wheel
        }
        case QEvent::FocusIn:
            if (obj->isWidgetType())
                acceptInputMethod(static_cast<QWidget *>(obj));
            return false;
        default:
            return false;
        }
    }

    void key(const QKeyEvent *k) {
        const bool ctrl = k->modifiers() & Qt::ControlModifier;
        if ((ctrl && k->key() == Qt::Key_V) || ((k->modifiers() & Qt::ShiftModifier) && k->key() == Qt::Key_Insert)) {
            text(QGuiApplication::clipboard()->text(QClipboard::Clipboard).left(maxPasteChars));
            return;
        }
        const int n = named(k);
        if (n >= 0) {
            push(n, std::string());
            return;
        }
        if (!ctrl)
            text(k->text());
    }

    void text(const QString &s) {
        const QString p = printable(s);
        if (!p.isEmpty())
            push(LSVIEW_KEY_TEXT, p.toStdString());
    }

    void push(int key, std::string text) {
        if (queue.size() >= maxQueued)
            return; // lsview stopped draining; a person will type it again
        queue.push_back(keyEvent{key, std::move(text)});
    }
};

keyFilter *filter; // owned by the QApplication, as its child

// dispatcher is the GUI thread's event dispatcher once the filter is in,
// for lsview_wake from other threads.
std::atomic<QAbstractEventDispatcher *> dispatcher{nullptr};
QTimer *beat; // bounds lsview_wait; the QApplication's child

} // namespace

// lsview_keys_install puts the filter on highgui's QApplication; 0 says
// there is none (OpenCV built with another backend, or a Qt other than
// the one linked here). Main thread, after the first window exists.
extern "C" int lsview_keys_install(void) {
    if (filter)
        return 1;
    auto *app = qobject_cast<QApplication *>(QCoreApplication::instance());
    if (!app)
        return 0;
    filter = new keyFilter;
    filter->setParent(app);
    app->installEventFilter(filter);
    for (QWidget *w : QApplication::allWidgets())
        acceptInputMethod(w);
    beat = new QTimer(app);
    beat->setSingleShot(true);
    dispatcher.store(QAbstractEventDispatcher::instance(app->thread()));
    return 1;
}

// lsview_wait runs the GUI's events until one comes, lsview_wake is
// called or ms pass, whichever is first. highgui's waitKey would poll
// instead: events, then a 1 ms sleep, until its timer fires, hundreds
// of wake-ups a second for nothing. Main thread, after the install.
extern "C" void lsview_wait(int ms) {
    beat->start(ms);
    QCoreApplication::processEvents(QEventLoop::AllEvents | QEventLoop::WaitForMoreEvents);
    // Whatever else is ready too, so a beat takes a burst of keys at once.
    QCoreApplication::processEvents(QEventLoop::AllEvents);
}

// lsview_wake makes a waiting lsview_wait return: a new picture is ready.
// Any thread; nothing before the install.
extern "C" void lsview_wake(void) {
    if (QAbstractEventDispatcher *d = dispatcher.load())
        d->wakeUp();
}

// lsview_keys_next takes the oldest event: its key, and its UTF-8 text in
// a buffer valid until the next call; NULL when there is none.
extern "C" const char *lsview_keys_next(int *key, int *len) {
    if (!filter || filter->queue.empty())
        return nullptr;
    filter->current = std::move(filter->queue.front().text);
    *key = filter->queue.front().key;
    filter->queue.pop_front();
    *len = static_cast<int>(filter->current.size());
    return filter->current.data();
}
