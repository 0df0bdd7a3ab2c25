//! The page's words, in English and Korean.

use prism_event::{Color, NameError};

use crate::status::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    /// Korean when the browser's language starts with `ko`, else English.
    pub fn detect(language: &str) -> Lang {
        if language.to_ascii_lowercase().starts_with("ko") {
            Lang::Ko
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Lang::En => "What is your favourite colour?",
            Lang::Ko => "가장 좋아하는 색은 무엇인가요?",
        }
    }

    pub fn name_label(self) -> &'static str {
        match self {
            Lang::En => "Your name",
            Lang::Ko => "이름",
        }
    }

    pub fn name_placeholder(self) -> &'static str {
        match self {
            Lang::En => "Type your name",
            Lang::Ko => "이름을 입력하세요",
        }
    }

    pub fn name_error(self, error: NameError) -> String {
        match (self, error) {
            (Lang::En, NameError::Empty) => "Please type your name.".into(),
            (Lang::Ko, NameError::Empty) => "이름을 입력해 주세요.".into(),
            (Lang::En, NameError::TooLong { chars }) => {
                format!(
                    "At most {} characters, please ({chars} now).",
                    prism_event::NAME_MAX_CHARS
                )
            }
            (Lang::Ko, NameError::TooLong { chars }) => {
                format!(
                    "{}자 이하로 입력해 주세요 (지금 {chars}자).",
                    prism_event::NAME_MAX_CHARS
                )
            }
            (Lang::En, NameError::ControlCharacter) => {
                "Please remove special control characters.".into()
            }
            (Lang::Ko, NameError::ControlCharacter) => "제어 문자는 사용할 수 없습니다.".into(),
            // The producer's own checks (the page does not run them); its
            // 422 arrives with these.
            (Lang::En, NameError::Refused { .. } | NameError::NotNormalized) => {
                "Please remove invisible or special characters.".into()
            }
            (Lang::Ko, NameError::Refused { .. } | NameError::NotNormalized) => {
                "보이지 않는 문자나 특수 문자는 사용할 수 없습니다.".into()
            }
            (Lang::En, NameError::CombiningMarks) => "Too many accents on one letter.".into(),
            (Lang::Ko, NameError::CombiningMarks) => "한 글자에 붙은 기호가 너무 많습니다.".into(),
        }
    }

    pub fn pick_color(self) -> &'static str {
        match self {
            Lang::En => "Press your favourite colour",
            Lang::Ko => "좋아하는 색을 누르세요",
        }
    }

    pub fn color_name(self, color: Color) -> &'static str {
        match self {
            Lang::En => match color {
                Color::Red => "Red",
                Color::Orange => "Orange",
                Color::Yellow => "Yellow",
                Color::Green => "Green",
                Color::Blue => "Blue",
                Color::Indigo => "Indigo",
                Color::Violet => "Violet",
            },
            Lang::Ko => match color {
                Color::Red => "빨강",
                Color::Orange => "주황",
                Color::Yellow => "노랑",
                Color::Green => "초록",
                Color::Blue => "파랑",
                Color::Indigo => "남색",
                Color::Violet => "보라",
            },
        }
    }

    pub fn status(self, status: &Status) -> String {
        match (self, status) {
            (_, Status::Idle) => String::new(),
            (Lang::En, Status::Sending) => "Sending…".into(),
            (Lang::Ko, Status::Sending) => "보내는 중…".into(),
            (
                Lang::En,
                Status::Sent {
                    name,
                    color,
                    short_id,
                },
            ) => {
                format!(
                    "Thanks, {name}! {} sent (id {short_id}).",
                    self.color_name(*color)
                )
            }
            (
                Lang::Ko,
                Status::Sent {
                    name,
                    color,
                    short_id,
                },
            ) => {
                format!(
                    "고마워요, {name}님! {} 전송 완료 (id {short_id}).",
                    self.color_name(*color)
                )
            }
            (Lang::En, Status::Rejected { message }) => format!("Not sent: {message}"),
            (Lang::Ko, Status::Rejected { message }) => format!("전송 실패: {message}"),
            (Lang::En, Status::Queued { pending }) => {
                format!("Queued, will retry ({pending} waiting).")
            }
            (Lang::Ko, Status::Queued { pending }) => {
                format!("대기열에 저장됨, 다시 보낼게요 ({pending}개 대기 중).")
            }
        }
    }

    pub fn dropped_note(self, dropped: usize) -> String {
        match self {
            Lang::En => {
                format!("The retry queue was full: {dropped} oldest unsent click(s) dropped.")
            }
            Lang::Ko => format!("대기열이 가득 차서 가장 오래된 클릭 {dropped}개를 버렸습니다."),
        }
    }

    pub fn tally_title(self) -> &'static str {
        match self {
            Lang::En => "Sent from this browser",
            Lang::Ko => "이 브라우저에서 보낸 횟수",
        }
    }
}
